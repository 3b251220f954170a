"""User-facing errors: each message says what is wrong and how to fix it."""


class WorkbenchError(Exception):
    """A mistake in the user's input. The CLI prints the message as one line and exits 2."""


class ScenarioError(WorkbenchError):
    """A scenario family is missing, malformed, or asked for a value it does not allow."""


class Unavailable(ScenarioError):
    """A family needs an optional package that is not installed; the message names the command
    that installs it."""


class InvalidCombination(ScenarioError):
    """A combination of values that a family does not allow (its generator refuses it); a grid
    skips it with a note."""


class Note(UserWarning):
    """Something the user should know that is not an error (a grid's skipped combinations): a
    warning, shown once; the CLI prints it as one line."""


class ExperimentError(WorkbenchError):
    """An experiment file is missing or invalid."""


class ModelError(WorkbenchError):
    """A model id is unknown, or its provider is not configured (for example a missing key)."""


class StatsError(WorkbenchError):
    """Statistics were asked for with impossible inputs (a rate outside (0, 1), k > n, ...)."""


class NotebookFailed(WorkbenchError):
    """A cell of the experiment notebook raised; the partly executed notebook is kept."""


class StoreError(WorkbenchError):
    """The response store cannot be opened or does not hold what was asked for."""


class ConfirmationNeeded(ExperimentError):
    """A run is larger (in samples or dollars) than the user lets it start unasked.

    ``plan`` is the :class:`workbench.runner.Plan` that says what it would send and cost."""

    def __init__(self, message: str, plan: object) -> None:
        super().__init__(message)
        self.plan = plan
