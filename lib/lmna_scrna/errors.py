"""One exception family, so the CLI can turn any bad input into a one-line message and exit 2."""


class LmnaError(Exception):
    """Base class of every error caused by bad input or parameters (not by bugs)."""


class InputError(LmnaError, ValueError):
    """A file, GSM, sample-sheet row or parameter is wrong; the message names it."""


def one_line(what: object) -> str:
    """A message (or an exception's) on one line: the CLI prints every error on one line."""
    return " ".join(str(what).split())
