"""Every table a page shows, finished in one place: sortable values, display text, widths.

UI-free (no Streamlit). ``table_view`` turns a page table (``race.present.views`` rows) into
what the grid needs:

- ``values``: what a click on a header sorts by. Numbers and times stay numeric; car numbers
  (text: "007" is not "7") become ``number_sort_keys`` so 2 < 10 < 155; a missing value is
  never null (the grid would print "None" whatever the display text says): +inf in numeric
  columns (sorts last), "—" in text columns.
- ``text``: what each cell shows ("—" for every missing value, lap times ``M:SS.mmm``).
- ``widths``: pixels per column, wide enough for the longest text and the header.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from race.present.presentation import (
    clock_text,
    lap_time_text,
    number_sort_keys,
    percent_text,
    sector_text,
)

MISSING = "—"
NUMBER_COLUMN = "No."
# Grid font (Source Sans, 14 px): average advance per character class, in pixels.
_WIDE = set("MWmw@%")
_NARROW = set("il.,:;|!'()[] ")
CELL_PADDING_PX = 20
HEADER_EXTRA_PX = 6  # room for the sort arrow beside a header
MAX_WIDTH_PX = 460


@dataclass(frozen=True)
class TableView:
    """A table ready for the grid (see the module docstring)."""

    values: pd.DataFrame
    text: pd.DataFrame
    widths: dict[str, int]


def is_missing(value: object) -> bool:
    """None, NaN, NaT and pandas' NA (anything a cell would show as "None")."""
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, float | np.floating):
        return math.isnan(value)
    return False


def plain_text(value: object, decimals: int = 2) -> str:
    """Any other cell: missing → "—", whole numbers without decimals, others rounded."""
    if is_missing(value):
        return MISSING
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        if math.isinf(value):
            return MISSING
        return f"{value:.0f}" if float(value).is_integer() else f"{value:.{decimals}f}"
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    text = str(value)
    return text if text.strip() else MISSING


def text_width_px(text: str) -> int:
    """Estimated pixel width of ``text`` in the grid's font."""
    width = 0.0
    for ch in text:
        if ch in _WIDE:
            width += 11.0
        elif ch in _NARROW:
            width += 3.8
        elif ch.isupper():
            width += 8.8
        elif ch.isdigit() or ch in "+-—":
            width += 7.2
        else:
            width += 6.8
    return math.ceil(width)


def column_width_px(header: str, texts: Sequence[str]) -> int:
    """Pixels for a column: its longest text or its header, whichever is wider."""
    longest = max((text_width_px(t) for t in texts), default=0)
    need = max(longest + CELL_PADDING_PX, text_width_px(header) + CELL_PADDING_PX
               + HEADER_EXTRA_PX)
    return int(min(MAX_WIDTH_PX, max(44, need)))


def _with_missing(fmt: Callable[[object], str]) -> Callable[[object], str]:
    def shown(value: object) -> str:
        if is_missing(value) or (isinstance(value, float) and math.isinf(value)):
            return MISSING
        return fmt(value) or MISSING
    return shown


def table_view(frame: pd.DataFrame, shown: Sequence[str], *,
               time_columns: Sequence[str] = (), sector_columns: Sequence[str] = (),
               clock_columns: Sequence[str] = (), percent_columns: Sequence[str] = (),
               decimals: Mapping[str, int] | None = None) -> TableView:
    """Values, texts and widths of the ``shown`` columns of ``frame``.

    A ``<column> text`` column in ``frame``, when present, holds what to show for that
    column (gaps: ``"2 laps"``); otherwise time (``M:SS.mmm``), sector, clock (``H:MM:SS``)
    and percent columns are formatted here, every other cell by ``plain_text``. A ``number``
    helper column (the car number as text), when present, gives ``No.`` its sort keys.

    Args:
        frame: the page table.
        shown: columns to show, in order (absent ones are skipped).
        decimals: digits after the point of plain numeric columns (default 2).
    """
    shown = [c for c in shown if c in frame.columns]
    decimals = dict(decimals or {})
    formats: dict[str, Callable[[object], str]] = {}
    for col in shown:
        if col in time_columns:
            formats[col] = lap_time_text
        elif col in sector_columns:
            formats[col] = sector_text
        elif col in clock_columns:
            formats[col] = clock_text
        elif col in percent_columns:
            formats[col] = percent_text
        else:
            digits = decimals.get(col, 2)
            formats[col] = lambda v, d=digits: plain_text(v, d)
    values: dict[str, object] = {}
    texts: dict[str, list[str]] = {}
    for col in shown:
        raw = frame[col]
        if f"{col} text" in frame.columns:
            text = [MISSING if is_missing(t) or not str(t).strip() else str(t)
                    for t in frame[f"{col} text"]]
        else:
            fmt = _with_missing(formats[col])
            text = [fmt(v) for v in raw.to_numpy(dtype=object)]
        texts[col] = text
        if col == NUMBER_COLUMN:
            source = frame["number"] if "number" in frame.columns else raw
            values[col] = number_sort_keys(source.astype(str).str.lstrip("!★ "))
        elif pd.api.types.is_bool_dtype(raw.dtype):
            values[col] = raw.to_numpy()
        elif pd.api.types.is_numeric_dtype(raw.dtype):
            values[col] = raw.astype(float).fillna(np.inf).to_numpy()
        elif _numeric_object(raw):
            values[col] = pd.to_numeric(raw, errors="coerce").astype(float).fillna(
                np.inf).to_numpy()
        else:
            values[col] = np.array(text, dtype=object)
    index = frame.index
    out = pd.DataFrame(values, index=index, columns=shown)
    text_frame = pd.DataFrame(texts, index=index, columns=shown)
    widths = {c: column_width_px(c, texts[c]) for c in shown}
    return TableView(out, text_frame, widths)


def _numeric_object(series: pd.Series) -> bool:
    """An object column holding only numbers and missing values (e.g. ``None`` in ints)."""
    if series.dtype != object:
        return False
    present = [v for v in series.to_numpy() if not is_missing(v)]
    return bool(present) and all(isinstance(v, int | float | np.integer | np.floating)
                                 and not isinstance(v, bool | np.bool_) for v in present)
