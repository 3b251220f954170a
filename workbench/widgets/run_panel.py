"""``RunPanel``: run the editor's condition on several models, and watch the answers arrive.

A run goes through the normal runner and store (claimed, stored, never paid twice), on an event
loop of its own in a background thread, so the kernel stays free while it works. Its samples are
registered as the experiment ``explore-<family>``: ``workbench.results("explore-blackmail")``
reads the last run back, and ``LabelPanel`` and ``classify evaluate --human`` can use it.
"""

from __future__ import annotations

import asyncio
import html
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import pandas as pd

from workbench.errors import WorkbenchError
from workbench.experiment import Sample, samples_of
from workbench.models import check_model
from workbench.models.base import GenerationParams
from workbench.runner import execute
from workbench.store import Store, StoredResponse, open_store
from workbench.table import results_table
from workbench.widgets.compare import Compare
from workbench.widgets.snapshot import SnapshotBox

EMBEDDED = "local/smollm2"
NO_SWEEP = ""
REFRESH_S = 0.5  # the cards are redrawn at most this often while answers arrive


class RunPanel(SnapshotBox):
    """Runs the condition an editor shows (``editor``: a :class:`ScenarioEditor`) on chosen
    models, and shows the answers in a :class:`Compare` as they arrive, labelled by the rules.

    Choose models (the embedded model is always there; ``models`` adds others, and any
    ``provider/model`` id can be typed in), samples, temperature, max tokens, and optionally one
    variable to sweep over all its choices. The parts are attributes: ``controls`` (``models``,
    ``add_model``, ``add``, ``samples``, ``temperature``, ``max_tokens``, ``sweep``, ``run``,
    ``stop``, ``progress``), ``compare``, :meth:`run`, :meth:`stop`, :meth:`wait` and
    :meth:`results`.
    """

    def __init__(
        self,
        editor: Any,
        *,
        models: Sequence[str] = (),
        store: Store | str | Path | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.editor = editor
        self.store = open_store(store)
        self.seed = seed
        choices = [v for v, var in editor.family.variables.items() if var.type == "choice"]
        self.controls: dict[str, Any] = {
            "models": widgets.SelectMultiple(options=list(dict.fromkeys([EMBEDDED, *models])),
                                             value=[EMBEDDED], description="models", rows=4),
            "add_model": widgets.Text(placeholder="provider/model, e.g. anthropic/claude-…",
                                      description="add"),
            "add": widgets.Button(description="add model"),
            "samples": widgets.BoundedIntText(value=1, min=1, max=1000, description="samples"),
            "temperature": widgets.FloatSlider(value=1.0, min=0.0, max=2.0, step=0.1,
                                               description="temperature"),
            "max_tokens": widgets.BoundedIntText(value=256, min=1, max=64_000,
                                                 description="max tokens"),
            "sweep": widgets.Dropdown(options=[("no sweep", NO_SWEEP), *[(v, v) for v in choices]],
                                      description="sweep"),
            "run": widgets.Button(description="Run", button_style="primary"),
            "stop": widgets.Button(description="Stop", button_style="warning", disabled=True),
            "progress": widgets.IntProgress(value=0, min=0, max=1, description="progress"),
        }
        self._status = widgets.HTML()
        self._results_box = widgets.VBox()
        self.compare: Compare | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[Any] | None = None
        self._lock = threading.Lock()
        self._done, self._failed, self._cost, self._drawn = 0, 0, 0.0, 0.0
        c = self.controls
        self.children = [
            widgets.HBox([c["models"], widgets.VBox([c["add_model"], c["add"]])]),
            widgets.HBox([c["samples"], c["max_tokens"]]),
            widgets.HBox([c["temperature"], c["sweep"]]),
            widgets.HBox([c["run"], c["stop"], c["progress"]]),
            self._status,
            self._results_box,
        ]
        c["add"].on_click(lambda _: self.add_model(c["add_model"].value))
        c["run"].on_click(lambda _: self.run())
        c["stop"].on_click(lambda _: self.stop())

    @property
    def experiment(self) -> str:
        """The name the panel's runs are registered under in the store."""
        return f"explore-{self.editor.family.name}"

    def add_model(self, model: str) -> None:
        """Offer ``model`` (``provider/model``) and select it, if it can be used now."""
        model = model.strip()
        try:
            check_model(model)
        except WorkbenchError as exc:
            self._say(str(exc), error=True)
            return
        picker = self.controls["models"]
        chosen = picker.value  # setting the options clears the choice: keep it
        picker.options = list(dict.fromkeys([*picker.options, model]))
        picker.value = tuple(dict.fromkeys([*chosen, model]))
        self.controls["add_model"].value = ""
        self._say(f"added {model}")

    # -- running -- #

    def samples(self) -> list[Sample]:
        """What a run would send: each condition (the editor's, or one per choice of the swept
        variable) × each chosen model × the samples."""
        c = self.controls
        values = dict(self.editor.values)
        sweep = c["sweep"].value
        conditions = ([values | {sweep: choice}
                       for choice in self.editor.family.variables[sweep].choices]
                      if sweep else [values])
        params = GenerationParams(c["temperature"].value, c["max_tokens"].value)
        found = []
        for condition in conditions:
            prompt = self.editor.family.render(condition)
            for model in c["models"].value:
                found += samples_of(prompt, model, c["samples"].value, params, self.seed)
        return found

    def run(self) -> None:
        """Start a run in the background (one at a time); answers fill the cards as they come."""
        if self._thread is not None and self._thread.is_alive():
            self._say("a run is going: stop it first, or wait", error=True)
            return
        try:
            samples = self.samples()
            for model in dict.fromkeys(s.model for s in samples):
                check_model(model)
            self.store.register_experiment(self.experiment, self._definition(samples),
                                           [s.record() for s in samples])
        except WorkbenchError as exc:
            self._say(str(exc), error=True)
            return
        if not samples:
            self._say("choose at least one model", error=True)
            return
        self._done, self._failed, self._cost, self._drawn = 0, 0, 0.0, 0.0
        c = self.controls
        c["progress"].max, c["progress"].value = len(samples), 0
        c["run"].disabled, c["stop"].disabled = True, False
        self._show_results()
        requests = [s.request for s in samples]
        self._thread = threading.Thread(target=self._work, args=(requests,), daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Cancel the run: requests in flight are dropped, what finished stays stored."""
        with self._lock:
            if self._loop is not None and self._task is not None:
                self._loop.call_soon_threadsafe(self._task.cancel)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the run ends (or ``timeout`` seconds); True if it has ended."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self._thread is None or not self._thread.is_alive()

    def results(self) -> pd.DataFrame:
        """The last run's table, one row a sample (see :func:`workbench.table.results_table`)."""
        return results_table(self.store, self.experiment)

    def _work(self, requests: list[Any]) -> None:
        loop = asyncio.new_event_loop()
        outcome, failed = "", False
        try:
            with self._lock:
                self._loop = loop
                self._task = loop.create_task(execute(
                    requests, store=self.store, progress=False, on_result=self._arrived))
            loop.run_until_complete(self._task)
        except asyncio.CancelledError:
            outcome = "stopped; what finished is stored"
        except WorkbenchError as exc:
            outcome, failed = str(exc), True
        finally:
            with self._lock:
                self._loop = self._task = None
            loop.close()
            self.controls["run"].disabled, self.controls["stop"].disabled = False, True
            self._show_results()
            self._report(outcome, error=failed)

    def _arrived(self, stored: StoredResponse) -> None:
        self._done += 1
        self._failed += not stored.ok
        self._cost += stored.cost or 0.0
        self.controls["progress"].value = self._done
        self._report()
        if time.monotonic() - self._drawn >= REFRESH_S:
            self._show_results()

    # -- what is shown -- #

    def _show_results(self) -> None:
        self._drawn = time.monotonic()
        frame = self.results()
        if self.compare is None:
            self.compare = Compare(frame, store=self.store)
            self._results_box.children = [self.compare]
        else:
            self.compare.update(frame)

    def _report(self, ending: str = "", error: bool = False) -> None:
        total = self.controls["progress"].max
        line = (f"{self._done}/{total} answered, {self._failed} failed, "
                f"${self._cost:.4f} · experiment {self.experiment}")
        self._say(f"{line} · {ending}" if ending else line, error=error)

    def _say(self, message: str, error: bool = False) -> None:
        colour = "#b00020" if error else "#555"
        self._status.value = f'<span style="color:{colour}">{html.escape(message)}</span>'

    def _definition(self, samples: Sequence[Sample]) -> dict[str, Any]:
        c = self.controls
        sweep = c["sweep"].value
        return {
            "name": self.experiment, "scenario": self.editor.family.name,
            "grid": ({sweep: list(self.editor.family.variables[sweep].choices)} if sweep
                     else {}),
            "fixed": {k: v for k, v in self.editor.values.items() if k != sweep},
            "models": list(c["models"].value), "samples": c["samples"].value,
            "temperature": c["temperature"].value, "max_tokens": c["max_tokens"].value,
            "seed": self.seed, "prompts": sorted({s.prompt_hash for s in samples}),
        }

    def snapshot_html(self) -> str:
        """Static, escaped HTML of what is on screen: the status line and the cards."""
        cards = self.compare.snapshot_html() if self.compare is not None else ""
        return f"<div>{self._status.value}</div>{cards}"
