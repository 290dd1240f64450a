"""The two failures the CLI reports as one stderr line: bad input (exit 2), divergence (exit 3)."""

EXIT_BAD_INPUT, EXIT_DIVERGED = 2, 3


class InputError(Exception):
    """Bad spec, data, model or metrics file; str(error) is the line after ``error: ``."""


class Diverged(Exception):
    """The loss of a mini-batch was not finite; str(error) is the line after ``error: ``."""

    def __init__(self, epoch: int, step: int) -> None:
        super().__init__(f"training diverged: loss is not finite at epoch {epoch}, step {step}")
        self.epoch = epoch
        self.step = step
