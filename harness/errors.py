"""The one error type the harness shows to users: a single line, then exit status 2."""


class HarnessError(Exception):
    """A user-facing problem; str(error) names the file or field and what was expected."""
