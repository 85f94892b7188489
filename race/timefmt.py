"""The one time parser and formatter for every timing format in the official files.

Accepted forms (DATA.md §1): ``SS.mmm``, ``M:SS.mmm``, ``H:MM:SS.mmm`` (hours may exceed 24,
e.g. ELAPSED at Le Mans), and the classification style ``6:01'01.299`` / ``1'31.159``.
Fractions of 1-3 digits; a value without a fraction (``1:02:03``) is whole seconds.
Values are parsed to integer milliseconds so that sums and differences are exact.

The grammar lives once, in ``TIME_PATTERN``; the scalar parser applies the same vectorised
code to a one-element array so the two can never disagree.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# The grammar: optional hours and minutes before ':' (or the classification files' "'"),
# whole seconds, an optional 1-3 digit fraction. Checked with one regex, then the parts are
# combined arithmetically (far faster than capture groups on 20,000-row columns).
TIME_PATTERN = r"^(?:(?:\d+[:'])?\d+[:'])?\d+(?:\.\d{1,3})?$"
# No timing file holds a time this long (the longest real ones: a 17.5 h red-flag lap at
# Le Mans 2024, ELAPSED just over 24 h): beyond it a value is a corrupt field.
MAX_TIME_MS = 100 * 3_600_000


class TimeFormatError(ValueError):
    """A value is not a time; ``positions`` holds the offending indexes in the input and
    ``reason`` what is wrong with the first one."""

    def __init__(self, positions: np.ndarray, values: list[str],
                 reason: str = "not a time (expected SS.mmm, M:SS.mmm or H:MM:SS.mmm)",
                 ) -> None:
        self.positions, self.values, self.reason = positions, values, reason
        super().__init__(f"{reason}: {values[0]!r}"[:300])

    @property
    def expected(self) -> str:
        """What the first value should have been, for "<value> is not <expected>"."""
        if self.reason.startswith("not a time"):
            return "a time (SS.mmm, M:SS.mmm or H:MM:SS.mmm)"
        return f"a time here ({self.reason})"


def parse_times_ms(values: pa.Array | pa.ChunkedArray | Iterable[str | None], *,
                   strict: bool = True, max_ms: float = MAX_TIME_MS) -> np.ndarray:
    """Parse time strings to integer milliseconds.

    Args:
        values: strings; empty strings and nulls mean "no time".
        strict: minutes and seconds after a ``:`` must be below 60 and the time at most
            ``max_ms`` (what every official file holds); off for live feed texts.
        max_ms: the longest time accepted when ``strict``.

    Returns:
        float64 array of milliseconds (whole numbers), NaN where the input was empty.

    Raises:
        TimeFormatError: a non-empty value is not a time (or, strict, out of range).
    """
    arr = values if isinstance(values, pa.Array | pa.ChunkedArray) else pa.array(
        list(values), type=pa.string())
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if arr.type != pa.string():
        arr = arr.cast(pa.string())
    trimmed = pc.utf8_trim_whitespace(arr)
    if trimmed.null_count:
        trimmed = pc.fill_null(trimmed, "")
    empty = pc.equal(trimmed, "")
    bad = pc.invert(pc.or_(empty, pc.match_substring_regex(trimmed, TIME_PATTERN)))
    if pc.any(bad).as_py():
        positions = np.flatnonzero(bad.to_numpy(zero_copy_only=False))
        raise TimeFormatError(positions, [arr[int(i)].as_py() for i in positions[:3]])
    filled = pc.if_else(empty, "0", trimmed)
    if pc.any(pc.match_substring(filled, "'")).as_py():
        filled = pc.replace_substring(filled, "'", ":")
    parts = pc.split_pattern(filled, ":")
    numbers = pc.cast(parts.values, pa.float64()).to_numpy(zero_copy_only=False)
    ends = parts.offsets.to_numpy()
    counts = np.diff(ends)
    ends = ends[1:]
    # The last part is seconds, the one before minutes, the one before that hours (the
    # grammar allows at most three); summed as H·3600 + M·60 + S, left to right.
    seconds = numbers[ends - 1] if len(numbers) else np.zeros(0)
    minutes = np.where(counts >= 2, numbers[np.maximum(ends - 2, 0)], 0.0) if len(
        numbers) else np.zeros(0)
    hours = np.where(counts >= 3, numbers[np.maximum(ends - 3, 0)], 0.0) if len(
        numbers) else np.zeros(0)
    ms = np.round((hours * 3600.0 + minutes * 60.0 + seconds) * 1000.0)
    if strict and len(ms):
        sixty = ((counts >= 2) & (seconds >= 60)) | ((counts >= 2) & (minutes >= 60))
        if sixty.any():
            positions = np.flatnonzero(sixty)
            raise TimeFormatError(positions, [arr[int(i)].as_py() for i in positions[:3]],
                                  "minutes and seconds must be below 60")
        too_long = ~(ms <= max_ms)  # also catches inf and NaN from absurdly long digits
        if too_long.any():
            positions = np.flatnonzero(too_long)
            limit = f"{max_ms / 3_600_000:g} hours"
            raise TimeFormatError(positions, [arr[int(i)].as_py() for i in positions[:3]],
                                  f"longer than {limit}: no timing file holds such a time")
    ms[empty.to_numpy(zero_copy_only=False)] = np.nan
    return ms


def parse_time_s(text: str | None) -> float | None:
    """Parse one time string to seconds (exact to the millisecond); None when empty.

    Raises:
        TimeFormatError: the value is not a time.
    """
    ms = parse_times_ms([text])[0]
    return None if math.isnan(ms) else ms / 1000.0


def format_lap_time(seconds: float | None) -> str:
    """Format seconds as ``M:SS.mmm`` (``H:MM:SS.mmm`` from one hour); empty for None/NaN."""
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return ""
    total_ms = round(seconds * 1000)
    sign = "-" if total_ms < 0 else ""
    total_ms = abs(total_ms)
    h, rem = divmod(total_ms, 3_600_000)
    m, rem = divmod(rem, 60_000)
    s, ms = divmod(rem, 1000)
    if h:
        return f"{sign}{h}:{m:02d}:{s:02d}.{ms:03d}"
    return f"{sign}{m}:{s:02d}.{ms:03d}"


def format_duration(seconds: float | None) -> str:
    """Format a race clock as ``H:MM:SS`` (hours may exceed 24); empty for None/NaN."""
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return ""
    total = int(seconds)
    h, rem = divmod(total, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}"
