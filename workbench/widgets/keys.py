"""``KeyCapture``: keyboard shortcuts for a widget, which ipywidgets cannot listen for.

A small anywidget: a focusable box that sends each key pressed while it has focus to Python.
It carries ``data-lm-suppress-shortcuts`` so that JupyterLab's own shortcuts (``j``, ``k``,
``y``, ``n`` … in command mode) leave those keys to it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anywidget
import traitlets

_ESM = """
function render({ model, el }) {
  const box = document.createElement("div");
  box.tabIndex = 0;
  box.className = "wb-keys";
  box.setAttribute("data-lm-suppress-shortcuts", "true");
  box.textContent = model.get("hint");
  model.on("change:hint", () => { box.textContent = model.get("hint"); });
  box.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || event.key === "Tab") return;
    event.preventDefault();
    event.stopPropagation();
    model.send({ key: event.key });
  });
  el.appendChild(box);
}
export default { render };
"""

_CSS = """
.wb-keys { border: 1px dashed var(--jp-border-color1, #999); border-radius: 4px;
  padding: 0.3em 0.6em; color: var(--jp-ui-font-color2, #555); cursor: pointer;
  font-size: 12px; }
.wb-keys:focus { outline: 2px solid #4a7bd0; border-style: solid; color: inherit; }
"""


class KeyCapture(anywidget.AnyWidget):
    """A box that, once clicked (focused), passes each key pressed to ``on_key`` callbacks
    as the key's name (``"y"``, ``"ArrowDown"``, …)."""

    _esm = _ESM
    _css = _CSS
    hint = traitlets.Unicode("click here, then use the keys").tag(sync=True)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._handlers: list[Callable[[str], None]] = []
        self.on_msg(self._received)

    def on_key(self, handler: Callable[[str], None]) -> None:
        """Call ``handler(key)`` for every key pressed in the box."""
        self._handlers.append(handler)

    def press(self, key: str) -> None:
        """Act as if ``key`` were pressed in the box (for scripts and tests)."""
        for handler in self._handlers:
            handler(key)

    def _received(self, _: Any, content: Any, buffers: Any) -> None:
        if isinstance(content, dict) and isinstance(content.get("key"), str):
            self.press(content["key"])
