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
from ui.state import get_store


@st.cache_data(max_entries=8, show_spinner=False)
def races(path: str, version: int) -> pd.DataFrame:
    return get_store(path).races()


@st.cache_data(max_entries=32, show_spinner=False)
def race_row(path: str, race_id: str, version: int) -> dict:
    return get_store(path).race(race_id)


@st.cache_data(max_entries=32, show_spinner=False)
def table(path: str, race_id: str, version: int, name: str) -> pd.DataFrame:
    """A whole race table (cars, stints, pit_stops, flag_periods …)."""
    return get_store(path).table(name, race_id)


@st.cache_resource(max_entries=4, show_spinner=False)
def prepared(path: str, race_id: str, version: int) -> PreparedLaps:
    """Laps prepared for running-order queries (shared, read-only)."""
    return load_prepared(get_store(path), race_id)


@st.cache_data(max_entries=256, show_spinner=False)
def leaderboard(path: str, race_id: str, version: int,
                t_s: float | None) -> tuple[pd.DataFrame, str, float]:
    """(leaderboard rows, flag, race time) as of ``t_s`` (None = the latest crossing)."""
    state = race_state(get_store(path), race_id, t_s,
                       prepared=prepared(path, race_id, version))
    board = views.leaderboard(state.standings, table(path, race_id, version, "cars"))
    return board, state.flag, state.t_s


@st.cache_data(max_entries=16, show_spinner=False)
def race_end_s(path: str, race_id: str, version: int) -> float:
    """The latest line crossing of a race (s)."""
    laps = prepared(path, race_id, version).laps
    return float(laps["elapsed_s"].max()) if len(laps) else 0.0


@st.cache_resource(max_entries=4, show_spinner=False)
def lap_history(path: str, race_id: str, version: int) -> pd.DataFrame:
    """Every lap with position, class position and gap to the class leader (read-only)."""
    laps = get_store(path).table("laps", race_id, views.LAP_CHART_COLUMNS)
    return views.lap_history(laps)


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
    """The strategy engine's view of the field at race time ``t_s`` (None: now)."""
    return queries.strategy_snapshot(get_store(path), race_id, t_s,
                                     history=strategy_history(path, race_id, others),
                                     laps=strategy_laps(path, race_id, version))


@st.cache_data(max_entries=8, show_spinner=False)
def events(path: str, race_id: str, version: int) -> pd.DataFrame:
    """The whole race feed: stored events and alerts, in time order."""
    return queries.race_feed(get_store(path), race_id)


@st.cache_data(max_entries=32, show_spinner=False)
def latest_events_html(path: str, race_id: str, version: int, t_s: float | None,
                       classes: tuple[str, ...]) -> str:
    """The Live page's latest events as of ``t_s`` (None = now) as HTML, once per version."""
    from race.present.feed import LATEST, latest_events_html
    feed = queries.latest_feed(get_store(path), race_id, LATEST, classes=classes, until_s=t_s)
    return latest_events_html(feed.iloc[::-1])


# Every cache above but the strategy history: keyed by the data version (module docstring).
VERSIONED = (races, race_row, table, prepared, leaderboard, race_end_s, lap_history, ingest_log,
             live_states, strategy_laps, strategy_snapshot, events, latest_events_html)
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
    return version
