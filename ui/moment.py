"""The moment the views show (``race.present.timeline``) from the cached reads: "now" of a
race (its feed's race clock while it is followed live, else its latest stored crossing) and
"now − delay", composed with a page's replay moment."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from race.present import timeline
from ui import data


def live_row(path: str, race_id: str, version: int) -> dict | None:
    """The race's ``live_state`` row (without the tracker), or None."""
    live = data.live_states(path, version)
    if live.empty:
        return None
    rows = live[live["race_id"] == race_id]
    return None if rows.empty else rows.iloc[0].to_dict()


def now_s(path: str, race_id: str, version: int) -> float:
    """Race time of "now" (s). While the race is followed live it moves with the wall clock,
    in whole seconds, so two panels of one refresh agree."""
    latest = data.race_end_s(path, race_id, version)
    live = live_row(path, race_id, version)
    now = timeline.race_now_s(latest, live, datetime.now(UTC).replace(tzinfo=None))
    return float(math.floor(now)) if now != latest else now


def as_of_s(path: str, race_id: str, version: int, delay_s: float,
            replay_t_s: float | None = None) -> float | None:
    """The race time the views show (None: the latest data); "now" is read only when a
    delay is set (a rerun with neither reads nothing)."""
    if replay_t_s is None and timeline.clamp_delay_s(delay_s) == 0:
        return None
    now = now_s(path, race_id, version) if replay_t_s is None else 0.0
    return timeline.as_of_s(now, delay_s, replay_t_s)


def last_crossing_s(path: str, race_id: str, version: int, number: str) -> float | None:
    """A car's latest stored line crossing (race time, s), or None."""
    laps = data.prepared(path, race_id, version).laps
    mine = laps.loc[laps["number"] == number, "elapsed_s"]
    return float(mine.max()) if len(mine) and mine.notna().any() else None
