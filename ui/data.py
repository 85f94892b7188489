"""Cached reads for the pages, keyed by (database, race, data version).

``data_version(path)`` (the newest ingest id and the live races' revisions, one cheap query)
changes whenever anything is imported or polled, so a rerun with no new data is served from
the cache and costs nothing.
Objects from ``st.cache_resource`` are shared between sessions: treat them as read-only.

Memory: every key below holds the data version, so an entry of an older version can never be
hit again. During a live race the version changes on every poll (every 10 s; every 0.1 s in a
1000x replay), and ``max_entries`` alone would keep the last few versions of every read: 4 ×
``prepared`` of a 24 h race (~7 MB each for Le Mans 2024, 62 cars, 15.6k laps) plus 256
leaderboards (~29 KB each), and Streamlit keeps one lock per key ever computed until the cache
is cleared. So the first call of ``data_version`` that sees the version change clears these
caches (``VERSIONED``): they then hold the current version only, at most ``max_entries`` per
function (different races, replay moments); ``benchmarks/soak_replay.py`` checks RSS stays flat.
"""

from __future__ import annotations

import threading

import pandas as pd
import streamlit as st

from race.analysis.standings import PreparedLaps
from race.present import queries, views
from race.present.queries import load_prepared, race_state
from ui import render_cache
from ui.state import get_store


@st.cache_data(max_entries=8, show_spinner=False)
def races(path: str, version: int) -> pd.DataFrame:
    return get_store(path).races()


@st.cache_resource(max_entries=8, show_spinner=False)
def race_choices(path: str, version: int) -> pd.DataFrame:
    """The sidebar race picker's rows (``views.race_choices``; shared, read-only)."""
    return views.race_choices(races(path, version))


@st.cache_data(max_entries=32, show_spinner=False)
def race_row(path: str, race_id: str, version: int) -> dict:
    return get_store(path).race(race_id)


@st.cache_data(max_entries=32, show_spinner=False)
def table(path: str, race_id: str, version: int, name: str) -> pd.DataFrame:
    """A whole race table (cars, stints, pit_stops, flag_periods …)."""
    return get_store(path).table(name, race_id)


@st.cache_resource(max_entries=4, show_spinner=False)
def live_laps(path: str, race_id: str, version: int) -> pd.DataFrame:
    """The laps the running order and the track ring read (``queries.LIVE_LAP_COLUMNS``),
    read once per data version instead of once for each (a replica pays every read after
    each poll). Shared, read-only."""
    from race.present.queries import LIVE_LAP_COLUMNS

    return get_store(path).table("laps", race_id, LIVE_LAP_COLUMNS, via_arrow=True)


@st.cache_resource(max_entries=4, show_spinner=False)
def prepared(path: str, race_id: str, version: int) -> PreparedLaps:
    """Laps prepared for running-order queries (shared, read-only)."""
    return load_prepared(get_store(path), race_id, live_laps(path, race_id, version))


@st.cache_data(max_entries=256, show_spinner=False)
def leaderboard(path: str, race_id: str, version: int,
                t_s: float | None) -> tuple[pd.DataFrame, str, float]:
    """(leaderboard rows, flag, race time) as of ``t_s`` (None = the latest crossing).

    Not memoised by content: hashing the laps of a 24 h race would add ~15 % to the Live
    refresh after every poll, the case that matters most."""
    state = race_state(get_store(path), race_id, t_s,
                       prepared=prepared(path, race_id, version))
    board = views.leaderboard(state.standings, table(path, race_id, version, "cars"))
    return board, state.flag, state.t_s


@st.cache_resource(max_entries=16, show_spinner=False)
def live_board(path: str, race_id: str, version: int, t_s: float | None,
               classes: tuple[str, ...], by_class: bool) -> tuple[pd.DataFrame, str, float,
                                                                   dict[str, int]]:
    """The Live page's board as of ``t_s``: (rows of the classes shown, in class blocks or
    overall order; flag; race time; cars per class). Shared and read-only: the 5-second
    refresh with no new data reuses it instead of unpickling and reshaping a copy."""
    board, flag, at_s = leaderboard(path, race_id, version, t_s)
    if classes and not board.empty:
        board = board[board["class"].isin(list(classes))]
    if not by_class:
        board = board.sort_values("Pos")
    return board, flag, at_s, views.cars_per_class(board)


@st.cache_data(max_entries=16, show_spinner=False)
def race_end_s(path: str, race_id: str, version: int) -> float:
    """The latest line crossing of a race (s)."""
    laps = prepared(path, race_id, version).laps
    return float(laps["elapsed_s"].max()) if len(laps) else 0.0


@st.cache_data(max_entries=16, show_spinner=False)
def race_finish_s(path: str, race_id: str, version: int) -> float | None:
    """The chequered flag's race time (None while the race runs)."""
    return queries.race_finish_s(get_store(path), race_id)


@st.cache_resource(max_entries=4, show_spinner=False)
def lap_history(path: str, race_id: str, version: int) -> pd.DataFrame:
    """Every lap with position, class position and gap to the class leader (read-only)."""
    laps = get_store(path).table("laps", race_id, views.LAP_CHART_COLUMNS)
    return render_cache.memo_call(views.lap_history, laps)  # same laps: the same object


@st.cache_data(max_entries=8, show_spinner=False)
def ingest_log(path: str, version: int, limit: int = 200) -> pd.DataFrame:
    return get_store(path).ingest_log(limit)


@st.cache_data(max_entries=8, show_spinner=False)
def live_states(path: str, version: int) -> pd.DataFrame:
    """Every race followed live, with its last poll (read-only)."""
    return get_store(path).live_states()


@st.cache_resource(max_entries=4, show_spinner=False)
def strategy_history(path: str, race_id: str, others: tuple) -> object:
    """The strategy history (other races of the series, ``others``: their ids and lap
    counts); rebuilt only when they change, not on every poll of this race."""
    return queries.strategy_history(get_store(path), race_id)


@st.cache_resource(max_entries=4, show_spinner=False)
def strategy_laps(path: str, race_id: str, version: int) -> pd.DataFrame:
    return queries.strategy_laps(get_store(path), race_id)


@st.cache_resource(max_entries=8, show_spinner=False)
def strategy_snapshot(path: str, race_id: str, version: int, t_s: float | None,
                      others: tuple) -> object:
    """The strategy engine's view of the field at race time ``t_s`` (None: now).

    Memoised by the content of what the engine reads (laps, race row, drivers, the other
    races): a new data version that leaves this race as it was reuses the picture."""
    return render_cache.memo_call(
        _snapshot_of, path, race_id, t_s, others, strategy_laps(path, race_id, version),
        race_row(path, race_id, version), table(path, race_id, version, "drivers"))


def _snapshot_of(path: str, race_id: str, t_s: float | None, others: tuple,
                 laps: pd.DataFrame, race: dict, drivers: pd.DataFrame) -> object:
    """``queries.strategy_snapshot``; ``race`` and ``drivers`` only key the memo."""
    return queries.strategy_snapshot(get_store(path), race_id, t_s,
                                     history=strategy_history(path, race_id, others),
                                     laps=laps)


# -- shaped page content, per data version and inputs (shared, read-only) -------------------
def _in_classes(frame: pd.DataFrame, classes: tuple[str, ...]) -> pd.DataFrame:
    if not classes or frame.empty:
        return frame
    return frame[frame["class"].isin(list(classes))]


@st.cache_resource(max_entries=8, show_spinner=False)
def stints_page(path: str, race_id: str, version: int, classes: tuple[str, ...],
                focus: str | None, followed: tuple[str, ...] = (),
                as_of_s: float | None = None) -> tuple[list[str], object, pd.DataFrame,
                                                       pd.DataFrame, bool]:
    """The Stints page's content: (car order, stint timeline figure, pit-stop rows,
    drive-time rows, any stint at all) for the classes shown, as of race time ``as_of_s``
    (None: now; else rebuilt from the laps crossed by then, as a replay would)."""
    from race.analysis import stints as stint_tables
    from ui import charts

    cars = table(path, race_id, version, "cars")
    if as_of_s is None:
        all_stints = table(path, race_id, version, "stints")
        stops = table(path, race_id, version, "pit_stops")
    else:
        laps = table(path, race_id, version, "laps")
        laps = laps[laps["elapsed_s"] <= as_of_s].reset_index(drop=True)
        all_stints = render_cache.memo_call(stint_tables.stints, laps)
        stops = render_cache.memo_call(stint_tables.pit_stops, laps)
    stints = _in_classes(all_stints, classes)
    board, _, _ = leaderboard(path, race_id, version, as_of_s)
    order = _in_classes(board, classes)["number"].tolist()
    if not order or stints.empty:
        return order, None, pd.DataFrame(), pd.DataFrame(), False
    # By content: a new data version that leaves this race's stints as they were (another
    # race polled) reuses the figure and the rows.
    memo = render_cache.memo_call
    figure = memo(charts.stint_gantt, stints, stops, order, focus=focus, followed=followed)
    pit_rows = _in_classes(memo(views.pit_stop_rows, stops, cars), classes)
    return order, figure, pit_rows, memo(views.drive_time_rows, stints), True


@st.cache_data(max_entries=8, show_spinner=False)
def events(path: str, race_id: str, version: int) -> pd.DataFrame:
    """The whole race feed: stored events and alerts, in time order."""
    return queries.race_feed(get_store(path), race_id)


@st.cache_data(max_entries=32, show_spinner=False)
def latest_events_html(path: str, race_id: str, version: int, t_s: float | None,
                       classes: tuple[str, ...], followed: tuple[str, ...] = ()) -> str:
    """The Live page's latest events as of ``t_s`` (None = now) as HTML, once per version;
    the followed cars' events starred."""
    from race.present.feed import LATEST, latest_events_html
    feed = queries.latest_feed(get_store(path), race_id, LATEST, classes=classes, until_s=t_s)
    return latest_events_html(feed.iloc[::-1], followed)


@st.cache_data(max_entries=32, show_spinner=False)
def fresh_alert_numbers(path: str, race_id: str, at_s: float, writes: int) -> frozenset[str]:
    """Cars with an alert in the 10 minutes before ``at_s`` (the board's "!"). Keyed by the
    store's write count, not the data version: the model job replaces alerts without an
    ingest, and a refresh with nothing written reads nothing."""
    return frozenset(queries.fresh_alert_numbers(get_store(path), race_id, at_s))


@st.cache_resource(max_entries=4, show_spinner=False)
def head_to_head_laps(path: str, race_id: str, version: int) -> pd.DataFrame:
    """The laps a head-to-head reads (``race.present.head_to_head.LAP_COLUMNS``; read-only)."""
    from race.present.head_to_head import LAP_COLUMNS
    return get_store(path).table("laps", race_id, LAP_COLUMNS, via_arrow=True)


@st.cache_resource(max_entries=16, show_spinner=False)
def head_to_head(path: str, race_id: str, version: int, a: str, b: str) -> object:
    """Cars ``a`` and ``b`` compared (``race.present.head_to_head.HeadToHead``; shared,
    read-only)."""
    from race.present.head_to_head import compare
    return compare(head_to_head_laps(path, race_id, version),
                   table(path, race_id, version, "stints"),
                   table(path, race_id, version, "pit_stops"), a, b)


@st.cache_resource(max_entries=8, show_spinner=False)
def weather_line(path: str, race_id: str, version: int) -> pd.DataFrame:
    """The race's weather readings on race time (``race.present.weather.timeline``;
    read-only); empty when the race has none."""
    from race.present.weather import timeline
    return timeline(table(path, race_id, version, "weather"), race_row(path, race_id, version),
                    race_end_s(path, race_id, version))


# Every cache above but the strategy history: keyed by the data version (module docstring).
VERSIONED = (races, race_row, table, live_laps, prepared, leaderboard, live_board, race_end_s,
             race_finish_s, lap_history, ingest_log, live_states, strategy_laps,
             strategy_snapshot, stints_page, race_choices, events, latest_events_html,
             head_to_head_laps, head_to_head, weather_line)
_seen_versions: dict[str, int] = {}
_seen_lock = threading.Lock()


def data_version(path: str) -> int:
    """The database's data version (``RaceStore.data_version``); pass it to the cached reads.

    The first call that sees it change drops every entry of the older version from the
    ``VERSIONED`` caches (and Streamlit's lock per key with them): they can never be hit again.
    A session still computing with the older version just recomputes once. All paths share
    these caches, so a change in one database also clears the others' entries (one database
    per server process in practice; tests only recompute).
    """
    version = get_store(path).data_version()
    with _seen_lock:
        changed = _seen_versions.get(path, version) != version
        _seen_versions[path] = version
    if changed:
        for cached in VERSIONED:
            cached.clear()
        # ui.render_cache is keyed by content, not by version: a table or figure whose rows
        # did not change is still good (its LRU bounds the memory).
    return version


# -- the track-position ring (issue #14): per data version and as-of second ----------------
@st.cache_resource(max_entries=2, show_spinner=False)
def track_laps(path: str, race_id: str, version: int) -> tuple[pd.DataFrame, object]:
    """(the laps the estimate reads, their crossing times sorted); shared, read-only."""
    import numpy as np

    from race.analysis.track_position import TRACK_LAP_COLUMNS
    laps = live_laps(path, race_id, version)[TRACK_LAP_COLUMNS]  # a copy of those columns
    return laps, np.sort(laps["elapsed_s"].dropna().to_numpy(dtype=float))


def track_cut_s(path: str, race_id: str, version: int, t_s: float | None) -> float | None:
    """The latest crossing at or before ``t_s``, the key of the basis: the same until the
    next crossing (a replay or a delayed view moving on). None when every lap is."""
    if t_s is None:
        return None
    _, crossings = track_laps(path, race_id, version)
    i = int(crossings.searchsorted(t_s, side="right"))
    if i >= len(crossings):
        return None
    return float(crossings[i - 1]) if i else -1.0


@st.cache_resource(max_entries=8, show_spinner=False)
def track_basis(path: str, race_id: str, version: int, cut_s: float | None) -> object:
    """``race.analysis.track_position.track_basis`` of the laps up to ``cut_s`` (None: all
    of them, the live case: one basis serves every rerun until new laps arrive). Read-only."""
    from race.analysis.track_position import track_basis as basis_of
    laps, _ = track_laps(path, race_id, version)
    if cut_s is not None:
        laps = laps[laps["elapsed_s"] <= cut_s]
    return basis_of(laps)


def track_as_of_s(path: str, race_id: str, version: int, t_s: float | None) -> float:
    """The race time the ring shows: the replay's moment, the live clock now, or the
    latest crossing of a race no longer followed (``race.present.track.as_of_s``)."""
    from race.present.track import as_of_s
    live = None
    if t_s is None:
        states = live_states(path, version)
        if len(states):
            rows = states[states["race_id"] == race_id]
            live = rows.iloc[0].to_dict() if len(rows) else None
    return as_of_s(t_s, race_end_s(path, race_id, version), live)


@st.cache_resource(max_entries=16, show_spinner=False)
def track_ring(path: str, race_id: str, version: int, cut_s: float | None, as_of_s: int,
               classes: tuple[str, ...], focus: str | None,
               followed: tuple[str, ...]) -> tuple[object, str]:
    """(ring figure, caption) as of race second ``as_of_s`` from the laps up to ``cut_s``
    (``track_cut_s``): a plain specification kept serialised (``render_cache.kept_spec``);
    a rerun in the same second sends it as it is."""
    from race.analysis.track_position import positions_at
    from race.present.track import ring_caption
    from ui.track_chart import ring_figure
    basis = track_basis(path, race_id, version, cut_s)
    positions = _in_classes(positions_at(basis, float(as_of_s)), classes)
    figure = ring_figure(positions, basis.knots_b, t_s=float(as_of_s), focus=focus,
                         followed=followed)
    return render_cache.kept_spec(figure), ring_caption(positions)


VERSIONED = (*VERSIONED, track_laps, track_basis, track_ring)
