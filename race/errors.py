"""Exception hierarchy: every error a user can see says what, where and what was expected."""

from __future__ import annotations

# A message a user reads on one line: a bad value is cut, never echoed whole.
MAX_DETAIL_CHARS = 200
MAX_VALUE_CHARS = 40


def shorten(value: object, limit: int = MAX_VALUE_CHARS) -> str:
    """``repr`` of a value for a message, cut to about ``limit`` characters with its length.

    >>> shorten("x" * 1000, 10)
    "'xxxxxxxxxx…' (1,000 characters)"
    """
    if isinstance(value, str | bytes) and len(value) > limit:
        return f"{value[:limit]!r}"[:-1] + f"…{chr(39)} ({len(value):,} characters)"
    text = repr(value)
    return text if len(text) <= limit + 2 else text[:limit] + "…"


def one_line(text: str, limit: int = MAX_DETAIL_CHARS) -> str:
    """The text on one line (newlines as spaces), cut to ``limit`` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


class RaceDataError(Exception):
    """Base class for every error the race package raises on bad input or state."""


class ParseError(RaceDataError):
    """A file or payload could not be read as the expected format.

    Args:
        message: what is wrong and what was expected.
        source: file name or payload label.
        line: 1-based line number in the source, when known.
        field: column or key name, when known.
    """

    def __init__(self, message: str, *, source: str | None = None, line: int | None = None,
                 field: str | None = None) -> None:
        message = one_line(message)
        if field is not None:
            field = one_line(field, MAX_VALUE_CHARS)
        self.source, self.line, self.field, self.detail = source, line, field, message
        where = [p for p in (source, f"line {line}" if line else None,
                             f"column {field}" if field else None) if p]
        super().__init__(f"{', '.join(where)}: {message}" if where else message)


class ValidationError(ParseError):
    """Parsed data breaks an invariant of the format (duplicated lap, time out of order...)."""


class FetchError(RaceDataError):
    """A network request failed after all retries."""


class StoreError(RaceDataError):
    """The database cannot be opened or written (locked by another process, wrong schema...)."""


class NotFoundError(RaceDataError):
    """A race, car or file named by the user does not exist."""
