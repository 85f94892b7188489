"""Read-side composition: stored rows → analysis results the pages and the CLI show.

Pages and commands call these; they never query the store and analyse by themselves.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from race.analysis.official import compare_classification
from race.analysis.standings import (
    PreparedLaps,
    final_order_time_s,
    prepare_laps,
    standings_at,
)
from race.analysis.track_position import TRACK_LAP_COLUMNS
from race.errors import NotFoundError
from race.store import RaceStore

STANDINGS_LAP_COLUMNS = [
    "number", "lap_number", "driver_number", "driver_name", "class", "team", "manufacturer",
    "lap_time_s", "s1_s", "s2_s", "s3_s", "elapsed_s", "pit_time_s", "flag", "in_lap",
    "lap_in_stint", "stint_number",
]
# What the Live page reads of the laps, in one read: the running order's columns and the
# track ring's (``race.analysis.track_position``).
LIVE_LAP_COLUMNS = list(dict.fromkeys([*STANDINGS_LAP_COLUMNS, *TRACK_LAP_COLUMNS]))


@dataclass(frozen=True)
class RaceState:
    """The race as of time ``t_s``: running order and flag."""

    race_id: str
    t_s: float
    flag: str
    standings: pd.DataFrame


def load_prepared(store: RaceStore, race_id: str,
                  laps: pd.DataFrame | None = None) -> PreparedLaps:
    """Laps and flag periods of a race, prepared for repeated ``standings_at`` calls.

    ``laps``: the race's stored laps with at least ``STANDINGS_LAP_COLUMNS`` when the caller
    has read them already (read here when None; left unchanged)."""
    if laps is None:
        laps = store.table("laps", race_id, STANDINGS_LAP_COLUMNS, via_arrow=True)
    if laps.empty:
        store.race(race_id)  # NotFoundError naming the known races when there is no such race
    periods = store.table("flag_periods", race_id)
    # The official entry list (IMSA results) also names cars that never completed a lap.
    entries = store.table("classification", race_id, ["number", "class", "team"])
    return prepare_laps(laps, periods, entries)


def race_state(store: RaceStore, race_id: str, t_s: float | None = None,
               prepared: PreparedLaps | None = None) -> RaceState:
    """Running order of ``race_id`` at race time ``t_s`` (None = the latest crossing)."""
    prepared = prepared or load_prepared(store, race_id)
    if t_s is None:
        t_s = float(prepared.laps["elapsed_s"].max()) if len(prepared.laps) else 0.0
    standings, flag = standings_at(prepared, t_s)
    return RaceState(race_id, float(t_s), flag, standings)


def official_comparison(store: RaceStore, race_id: str) -> pd.DataFrame:
    """Final order rebuilt from laps vs the official classification, one row per classified
    car with the reason of each mismatch (empty when the race has no official results)."""
    official = store.table("classification", race_id)
    if official.empty:
        return official
    prepared = load_prepared(store, race_id)
    final = race_state(store, race_id, final_order_time_s(prepared), prepared).standings
    return compare_classification(official, final)


# -- model outputs (race.models.predict / .anomalies, stored by race.models.live_models) --
def race_live(store: RaceStore, race_id: str) -> bool:
    """The race is being followed live (its laps still grow)."""
    state = store.live_state(race_id)
    return bool(state and state.get("active"))


def race_finish_s(store: RaceStore, race_id: str) -> float | None:
    """Race time of the chequered flag (``race.analysis.flags.finish_s``); None while the race
    runs. An imported file is the whole race."""
    from race.analysis.flags import finish_s
    laps = store.table("laps", race_id, ["number", "lap_number", "elapsed_s", "flag"])
    return finish_s(laps, complete=not race_live(store, race_id))


def prediction_overview(store: RaceStore, race_id: str, finish_s: float | None = None, *,
                        as_of_s: float | None = None):
    """Stored next-lap predictions of a race shaped for the Predictions page (nothing at or
    after ``finish_s``; neutralised predictions marked), as known at race time ``as_of_s``
    (None: now; a TV delay or a replay moment: ``model_views.predictions_as_of``)."""
    from race.present.model_views import prediction_overview as shape
    from race.present.model_views import predictions_as_of
    if as_of_s is not None and finish_s is not None and finish_s > as_of_s:
        finish_s = None  # the flag is still to come at that moment
    predictions = predictions_as_of(store.predictions(race_id), as_of_s)
    return shape(predictions, store.table("flag_periods", race_id), finish_s)


def alert_feed(store: RaceStore, race_id: str, limit: int = 500) -> pd.DataFrame:
    """Incident and slow-stop alerts of a race, newest first (neutralised labels left out)."""
    return store.alerts(race_id).head(limit)


def fresh_alert_numbers(store: RaceStore, race_id: str, at_s: float) -> set[str]:
    """Cars with an alert in the last 10 minutes of race time before ``at_s`` (the "!")."""
    from race.present.model_views import FRESH_ALERT_S
    from race.present.model_views import fresh_alert_numbers as fresh
    return fresh(store.alerts(race_id, since_s=at_s - FRESH_ALERT_S), at_s)


# -- the race feed (race.analysis.events) ----------------------------------------------------
def race_feed(store: RaceStore, race_id: str, *, kinds: tuple[str, ...] | None = None,
              classes: tuple[str, ...] | None = None, numbers: tuple[str, ...] | None = None,
              until_s: float | None = None) -> pd.DataFrame:
    """The race's events in time order (``race.analysis.events.EVENT_COLUMNS``): the stored
    ones and one per stored alert (read each time: the model job replaces the alerts).

    Args:
        kinds, classes, numbers: keep these only (None: all).
        until_s: the events up to this race time (a replay moment, a delayed view).
    """
    from race.analysis.events import KINDS, STORED_KINDS, alert_events, sort_events
    unknown = sorted(set(kinds or ()) - set(KINDS))
    if unknown:
        raise NotFoundError(f"no event kind {', '.join(unknown)} (kinds: {', '.join(KINDS)})")
    stored_kinds = None if kinds is None else tuple(k for k in kinds if k in STORED_KINDS)
    parts = []
    if stored_kinds is None or stored_kinds:
        stored = store.events(race_id, kinds=stored_kinds, until_s=until_s)
        if stored.empty and _without_events(store, race_id):
            stored = _derived_events(store, race_id)
            if stored_kinds:
                stored = stored[stored["kind"].isin(stored_kinds)]
            if until_s is not None:
                stored = stored[stored["t_s"] <= until_s]
        parts.append(stored)
    if kinds is None or "alert" in kinds:
        alerts = store.alerts(race_id)
        if until_s is not None:
            alerts = alerts[alerts["elapsed_s"] <= until_s]
        parts.append(alert_events(alerts))
    parts = [p for p in parts if len(p)]
    if not parts:
        if not store.has_race(race_id):
            store.race(race_id)  # NotFoundError naming the known races
        return pd.DataFrame(columns=["t_s", "kind", "number", "class", "lap", "text"])
    feed = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    feed["lap"] = feed["lap"].astype("Int64")
    if classes:
        feed = feed[feed["class"].isin(classes) | feed["class"].isna()]
    if numbers:
        feed = feed[feed["number"].isin(numbers)]
    return sort_events(feed)


def _without_events(store: RaceStore, race_id: str) -> bool:
    """A race with laps but no stored event: imported before the feed existed."""
    return store.events(race_id, latest=1).empty and store.max_lap_number(race_id) > 0


def _derived_events(store: RaceStore, race_id: str) -> pd.DataFrame:
    """The stored kinds of events derived now from the stored laps (a race imported before
    the feed existed; importing it again stores them)."""
    from race.analysis.events import LAP_COLUMNS, race_events
    columns = [c for c in LAP_COLUMNS if c != "pit_lane_start"]
    laps = store.table("laps", race_id, columns)
    return race_events(laps, store.table("flag_periods", race_id))


def latest_feed(store: RaceStore, race_id: str, n: int = 15, *,
                classes: tuple[str, ...] = (), until_s: float | None = None) -> pd.DataFrame:
    """The ``n`` latest events (stored and alerts) of some classes (flags stay) up to
    ``until_s``, in time order: read with a limit, not the whole feed (the Live page)."""
    from race.analysis.events import alert_events, sort_events
    stored = store.events(race_id, until_s=until_s, classes=classes or None, latest=n)
    if stored.empty and _without_events(store, race_id):
        whole = race_feed(store, race_id, classes=classes or None, until_s=until_s)
        return whole.tail(n).reset_index(drop=True)
    alerts = store.alerts(race_id)
    if until_s is not None:
        alerts = alerts[alerts["elapsed_s"] <= until_s]
    if classes:
        alerts = alerts[alerts["class"].isin(classes)]
    alerts = alert_events(alerts.head(n))  # newest first
    feed = pd.concat([stored, alerts], ignore_index=True) if len(alerts) else stored
    feed["lap"] = feed["lap"].astype("Int64")
    return sort_events(feed).tail(n).reset_index(drop=True)


# -- strategy engine (race.strategy) ----------------------------------------------------------
def strategy_history(store: RaceStore, race_id: str):
    """Other stored races of the series, summarised for the strategy engine (cache it)."""
    from race.strategy.reads import strategy_history as build
    return build(store, race_id)


def strategy_snapshot(store: RaceStore, race_id: str, t_s: float | None = None, *,
                      history=None, laps: pd.DataFrame | None = None, draws: int = 200):
    """Pit windows, stop costs, rejoin projections, drive time and finish projection at
    ``t_s`` (``race.strategy.live.StrategySnapshot``)."""
    from race.strategy.reads import strategy_snapshot as build
    return build(store, race_id, t_s, history=history, laps=laps, draws=draws)


def strategy_laps(store: RaceStore, race_id: str) -> pd.DataFrame:
    """The stored laps the strategy engine reads (cache them per data version)."""
    from race.strategy.reads import strategy_laps as read
    return read(store, race_id)
