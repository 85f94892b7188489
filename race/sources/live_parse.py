"""One poll's raw payloads → ``FeedSnapshot``, for either source (pure: bytes in).

The live session and ``python -m race probe`` both read payloads through here, so what the
probe shows on race morning is exactly what the session will store.
"""

from __future__ import annotations

import logging

from race.errors import ParseError
from race.sources.feed import FeedSnapshot
from race.sources.imsa_live import parse_race_data, parse_race_results
from race.sources.wec_live import parse_wec

log = logging.getLogger(__name__)
SOURCES = ("imsa", "wec")


def parse_payloads(source: str, payloads: dict[str, bytes], *, label: str = "<payload>",
                   flag_label: str = "RaceData") -> FeedSnapshot:
    """Parse one poll: ``main`` (IMSA RaceResults / WEC data.json) and, for IMSA, ``flag``.

    A RaceData payload that cannot be read leaves the flag unknown and is logged: the laps in
    RaceResults are still good.

    Raises:
        ParseError: the main payload cannot be read, or ``source`` is unknown.
    """
    if source not in SOURCES:
        raise ParseError(f"unknown live source {source!r} (choose imsa or wec)")
    try:
        if source == "wec":
            return parse_wec(payloads["main"], label)
        control = None
        if payloads.get("flag") is not None:
            try:
                control = parse_race_data(payloads["flag"], flag_label)
            except ParseError as exc:
                log.warning("%s", exc)
            except _UNEXPECTED as exc:
                log.warning("%s", _unreadable(flag_label, exc))
        return parse_race_results(payloads["main"], label, control)
    except _UNEXPECTED as exc:
        # A payload shaped as no parser expects (a list where an object was, a number too
        # big for an int …) is a bad payload like any other: one clear line, nothing stored.
        log.debug("unreadable payload from %s", label, exc_info=True)
        raise _unreadable(label, exc) from None


_UNEXPECTED = (TypeError, ValueError, KeyError, IndexError, AttributeError, OverflowError,
               RecursionError, UnicodeError)
MESSAGE_VALUE_CHARS = 80


def _unreadable(label: str, exc: Exception) -> ParseError:
    text = str(exc)
    if len(text) > MESSAGE_VALUE_CHARS:
        text = text[:MESSAGE_VALUE_CHARS] + "…"
    return ParseError(f"payload not in a layout this parser reads ({type(exc).__name__}: "
                      f"{text})", source=label)
