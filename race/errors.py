"""Exception hierarchy: every error a user can see says what, where and what was expected."""

from __future__ import annotations


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
