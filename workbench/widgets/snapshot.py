"""What every widget here has in common: a static, escaped snapshot of what it shows."""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets


class SnapshotBox(widgets.VBox):
    """A VBox that also carries :meth:`snapshot_html` as ``text/html``, so viewers without the
    widget (an nbconvert export without widget state, like the experiment report) show what was
    on screen, with no script."""

    def snapshot_html(self) -> str:
        """Static, escaped HTML of what is on screen."""
        raise NotImplementedError

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        bundle = super()._repr_mimebundle_(**kwargs)
        bundle["text/html"] = self.snapshot_html()
        return bundle
