"""Exceptions of nnscratch: what a user's bad data, model file or training run raises.

All of them subclass ``ValueError`` so that code which already catches bad arguments
catches these too; the command line maps them to exit status 1.
"""


class UsageError(Exception):
    """A user's bad option value, found after the command line was parsed; the command line
    exits with status 2 and one line."""


class DataError(ValueError):
    """A data file is missing, corrupt, or holds the wrong content."""


class ModelFileError(ValueError):
    """A model file is corrupt, truncated, foreign, or from a newer format."""


class TrainingDivergedError(ArithmeticError):
    """The cost became NaN or infinite during training.

    Attributes:
        iteration: the (1-based) iteration whose cost was not finite.
        cost: the non-finite cost itself.
    """

    def __init__(self, iteration: int, cost: float, learning_rate: float | None = None):
        self.iteration = iteration
        self.cost = cost
        hint = (
            f"; try a smaller learning rate than {learning_rate:g}"
            if learning_rate is not None
            else "; try a smaller learning rate"
        )
        super().__init__(
            f"training diverged: the cost became {cost} at iteration {iteration}{hint}. "
            "The parameters were left at the last state with a finite cost."
        )
