"""The two failures the CLI reports as one stderr line: bad input (exit 2), divergence (exit 3)."""

EXIT_BAD_INPUT, EXIT_DIVERGED = 2, 3
# Why a path holding a NUL byte (from a JSON string) cannot be opened: the Rust standard
# library's text for it, so that both contenders print the same line (CONTRACT.md).
NUL_IN_PATH = "file name contained an unexpected NUL byte"


class InputError(Exception):
    """Bad spec, data, model or metrics file; str(error) is the line after ``error: ``."""


class Diverged(Exception):
    """The loss of a mini-batch was not finite; str(error) is the line after ``error: ``."""

    def __init__(self, epoch: int, step: int) -> None:
        super().__init__(f"training diverged: loss is not finite at epoch {epoch}, step {step}")
        self.epoch = epoch
        self.step = step


def shown(text: str) -> str:
    """Text holding paths as the Rust binary displays them: bytes that are not UTF-8 (which
    Python decodes from the command line as lone surrogates) become U+FFFD, one for each
    maximal invalid sequence, as Rust's ``Path::display`` and ``String::from_utf8_lossy`` do."""
    try:
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a surrogate that no undecodable byte became
        raw = text.encode("utf-8", "replace")
    return raw.decode("utf-8", "replace")
