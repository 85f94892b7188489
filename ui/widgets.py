"""Small Streamlit building blocks: error boundary, empty states, styled tables, video."""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import streamlit as st

from race.errors import NotFoundError, ParseError, RaceDataError, StoreError
from race.present.presentation import mark_followed, table_css
from race.present.tables import MISSING, table_view
from ui.render_cache import content_key, memo_styler
from ui.state import Selection, is_replica

log = logging.getLogger(__name__)


def what_to_do(exc: RaceDataError) -> str:
    """The next step for the user after an error."""
    if isinstance(exc, StoreError) and is_replica():
        return ("This replica only reads the snapshots its publisher writes into "
                "$RACE_READ_FROM: start the publisher there (`python -m race monitor "
                "--publish DIR`) or make the change on its machine, then reload this page.")
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


def _lookup(texts: dict) -> Callable[[object], str]:
    def fmt(value: object) -> str:
        return texts.get(value, MISSING)
    return fmt


def styled_table(frame: pd.DataFrame, shown: Sequence[str], *, focus: str | None = None,
                 followed: Sequence[str] = (),
                 time_columns: Sequence[str] = (), sector_columns: Sequence[str] = (),
                 clock_columns: Sequence[str] = (), percent_columns: Sequence[str] = (),
                 decimals: dict[str, int] | None = None, pinned: Sequence[str] = ("No.",),
                 labels: dict[str, str] | None = None, height: int | str = "auto",
                 key: str | None = None, cache_key: Hashable | None = None) -> None:
    """A finished, sortable table (``race.present.tables.table_view``).

    Numbers stay numeric (a header click sorts 2 < 10 < 155, times by time), every missing
    value shows "—", each column is as wide as its longest text. With ``number`` and
    ``class`` helper columns, car numbers and classes are in the class colour (WCAG AA) and
    the focus car's row is highlighted; followed cars' rows are bold with ★ before the
    number. ``labels`` renames headers for display.
    The styled table is built once per content (``ui.render_cache``): a rerun with the same
    rows only sends it again. ``cache_key``: what ``frame`` is made from (data version, race,
    inputs), when known; else the frame's content is hashed (about 1 ms per 1,000 rows).
    """
    args = (tuple(shown), focus, tuple(time_columns), tuple(sector_columns),
            tuple(clock_columns), tuple(percent_columns),
            tuple(sorted((decimals or {}).items())), tuple(followed))
    key_of_rows = cache_key if cache_key is not None else content_key(frame)
    styler = (_styler(frame, *args) if key_of_rows is None else
              memo_styler(("styled_table", key_of_rows, *args), lambda: _styler(frame, *args)))
    labels = labels or {}
    widths = getattr(styler, _WIDTHS)
    config: dict[str, object] = {
        c: st.column_config.Column(labels.get(c, c), width=widths[c], pinned=c in pinned)
        for c in styler.data.columns}
    st.dataframe(styler, hide_index=True, width="stretch", height=height,
                 column_config=config, key=key)


_WIDTHS = "_pw_widths"


def _styler(frame: pd.DataFrame, shown: tuple[str, ...], focus: str | None,
            time_columns: tuple[str, ...], sector_columns: tuple[str, ...],
            clock_columns: tuple[str, ...], percent_columns: tuple[str, ...],
            decimals: tuple[tuple[str, int], ...], followed: tuple[str, ...] = ()):
    frame = mark_followed(frame, followed)
    view = table_view(frame, list(shown), time_columns=time_columns,
                      sector_columns=sector_columns, clock_columns=clock_columns,
                      percent_columns=percent_columns, decimals=dict(decimals))
    columns = list(view.values.columns)
    formats = {}
    for col in columns:
        texts: dict = {}
        for value, text in zip(view.values[col].to_numpy(), view.text[col], strict=True):
            texts.setdefault(value, text)
        formats[col] = _lookup(texts)
    styler = view.values.style.format(formats, na_rep=MISSING)
    if {"number", "class"} <= set(frame.columns):
        css = table_css(frame, columns, focus, followed)
        styler = styler.apply(lambda _: css, axis=None)
    setattr(styler, _WIDTHS, view.widths)
    return styler


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
