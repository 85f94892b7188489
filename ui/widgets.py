"""Small Streamlit building blocks: error boundary, empty states, styled tables, video."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Hashable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import streamlit as st

from race.errors import NotFoundError, ParseError, RaceDataError, StoreError
from race.present.presentation import clock_text, lap_time_text, percent_text, table_css
from ui.render_cache import content_key, memo_styler
from ui.state import Selection

log = logging.getLogger(__name__)
MISSING = "—"


def what_to_do(exc: RaceDataError) -> str:
    """The next step for the user after an error."""
    if isinstance(exc, StoreError):
        return ("Stop the other program that has the database open (another Pit Wall app or "
                "`python -m race monitor`), or start the app with `RACE_DB=other.duckdb`, "
                "then reload this page.")
    if isinstance(exc, NotFoundError):
        return "Pick another race in the sidebar, or import it again on the **Data** page."
    if isinstance(exc, ParseError):
        return ("Check that the file is an official lap file (WEC *Analysis* or IMSA "
                "*Time Cards* CSV) and import it again on the **Data** page.")
    return "Import the race again on the **Data** page; if it persists, see the server log."


@contextmanager
def guard() -> Iterator[None]:
    """Show a ``RaceDataError`` as ``st.error`` with what to do, never as a traceback."""
    try:
        yield
    except RaceDataError as exc:
        log.warning("page error: %s", exc)
        st.error(f"{exc}\n\n{what_to_do(exc)}", icon=":material/error:")


def empty_state(text: str) -> None:
    """A friendly 'nothing here yet' message that says what to do next."""
    st.info(text, icon=":material/info:")


def require_race(sel: Selection) -> str:
    """The selected race id, or an empty state and the end of the page."""
    if sel.race_id is None:
        empty_state("No race in the database yet. Click **Load sample data** in the sidebar "
                    "for a generated 6-hour race, or import official timing files on the "
                    "**Data** page.")
        st.stop()
    return sel.race_id


def filter_classes(frame: pd.DataFrame, classes: Sequence[str]) -> pd.DataFrame:
    """Rows of the classes picked in the sidebar (all when none picked)."""
    if not classes or frame.empty:
        return frame
    return frame[frame["class"].isin(list(classes))]


def _lookup_formatter(texts: dict) -> Callable[[object], str]:
    def fmt(value: object) -> str:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return texts.get("nan") or MISSING
        return texts.get(float(value)) or MISSING
    return fmt


def _plain_text(value: object) -> str:
    """Any other cell: missing → "—", whole numbers without decimals, others to 0.01."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return f"{value:.0f}" if float(value).is_integer() else f"{value:.2f}"
    return str(value)


def _missing_first(formatter: Callable[[object], str]) -> Callable[[object], str]:
    def shown(value: object) -> str:
        if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
            return MISSING
        return formatter(value)
    return shown


def styled_table(frame: pd.DataFrame, shown: Sequence[str], *, focus: str | None,
                 time_columns: Sequence[str] = (), clock_columns: Sequence[str] = (),
                 percent_columns: Sequence[str] = (), pinned: Sequence[str] = ("No.",),
                 height: int | str = "auto", key: str | None = None,
                 cache_key: Hashable | None = None) -> None:
    """A sortable table: numbers stay numeric (sorting works), shown as lap times / gaps.

    ``frame`` must have ``number`` and ``class`` helper columns (class colours, focus row).
    A ``<column> text`` helper, when present, holds what to show for that column (gaps:
    ``"2 laps"``); otherwise time / clock / percent columns are formatted here.
    The styled table is built once per content (``ui.render_cache``): a rerun with the same
    rows only sends it again. ``cache_key``: what ``frame`` is made from (data version, race,
    inputs), when known; else the frame's content is hashed (about 1 ms per 1,000 rows).
    """
    shown = [c for c in shown if c in frame.columns]
    config: dict[str, object] = {c: st.column_config.Column(pinned=True) for c in pinned
                                 if c in shown}
    args = (tuple(shown), focus, tuple(time_columns), tuple(clock_columns),
            tuple(percent_columns))
    key_of_rows = cache_key if cache_key is not None else content_key(frame)
    styler = (_styler(frame, *args) if key_of_rows is None else
              memo_styler(("styled_table", key_of_rows, *args), lambda: _styler(frame, *args)))
    st.dataframe(styler, hide_index=True, width="stretch", height=height,
                 column_config=config, key=key)


def _styler(frame: pd.DataFrame, shown: Sequence[str], focus: str | None,
            time_columns: Sequence[str], clock_columns: Sequence[str],
            percent_columns: Sequence[str]):
    shown = list(shown)
    data = frame[shown]
    formats: dict[str, object] = {c: lap_time_text for c in time_columns if c in shown}
    formats.update({c: clock_text for c in clock_columns if c in shown})
    formats.update({c: percent_text for c in percent_columns if c in shown})
    for col in shown:
        if f"{col} text" in frame.columns:
            texts: dict = {}
            for value, text in zip(frame[col].to_numpy(), frame[f"{col} text"], strict=True):
                texts.setdefault("nan" if pd.isna(value) else float(value), text)
            formats[col] = _lookup_formatter(texts)
    for col in shown:
        formats.setdefault(col, _plain_text)
    # A formatter never sees a missing value: it shows as "—" whatever the column.
    formats = {c: _missing_first(f) for c, f in formats.items()}
    css = table_css(frame, shown, focus)
    # A missing value shows as "—": an empty or blank display value would read "None".
    return data.style.format(formats, na_rep=MISSING).apply(lambda _: css, axis=None)


def background_video(path: Path, enabled: bool) -> None:
    """The configured video behind the content at 40 % opacity with a dark overlay.

    Nothing at all when the file is absent or the toggle is off.
    """
    if not enabled or not path.is_file():
        return
    with st.container(key="pw-bg-video"):
        st.video(str(path), autoplay=True, loop=True, muted=True)
    st.html(
        "<style>"
        ".st-key-pw-bg-video{position:fixed;inset:0;z-index:0;pointer-events:none;"
        "opacity:0.4;overflow:hidden}"
        ".st-key-pw-bg-video video{width:100vw;height:100vh;object-fit:cover}"
        ".st-key-pw-bg-video video::-webkit-media-controls{display:none !important}"
        ".stApp::before{content:'';position:fixed;inset:0;z-index:0;pointer-events:none;"
        "background:rgba(8,10,14,0.55)}"
        "[data-testid='stAppViewContainer'],[data-testid='stMain'],.stApp,"
        "[data-testid='stHeader']{background:transparent}"
        "html,body{background:#0e1117}"
        "[data-testid='stMainBlockContainer']{position:relative;z-index:1}"
        "</style>")


def header(title: str, subtitle: str = "") -> None:
    """Page title with an optional one-line subtitle (Markdown, never raw HTML)."""
    st.subheader(title, anchor=False)
    if subtitle:
        st.caption(subtitle)
