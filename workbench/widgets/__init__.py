"""Notebook widgets: each is an ipywidgets box that displays as a cell's last expression."""

from workbench.widgets.compare import Compare
from workbench.widgets.editor import ScenarioEditor
from workbench.widgets.labels import LabelPanel
from workbench.widgets.run_panel import RunPanel

__all__ = ["Compare", "LabelPanel", "RunPanel", "ScenarioEditor"]
