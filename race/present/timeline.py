"""The moment every view shows: "now" minus the TV delay, or a replay moment minus it.

One ``as_of_s`` (race time, s; None = the latest stored data) is computed once per run and
given to every view: board, banner, feed, toasts, charts, strategy, predictions. A replay
moment and the delay compose: the view shows ``replay − delay``, so a past race replayed
with a delay is the same mechanism as a live race watched on a delayed broadcast.
"""

from __future__ import annotations

import math
from datetime import datetime

import pandas as pd

MAX_DELAY_S = 180
# A live feed's race clock is extrapolated from its last poll for at most this long: beyond
# it the poller has stopped and the clock is no better than the latest crossing.
MAX_CLOCK_EXTRAPOLATION_S = 600.0


def clamp_delay_s(value: object) -> int:
    """A delay in whole seconds within 0–``MAX_DELAY_S`` (anything not a number: 0)."""
    try:
        seconds = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0
    if not math.isfinite(seconds):
        return 0
    return int(min(MAX_DELAY_S, max(0, round(seconds))))


def race_now_s(latest_crossing_s: float, live: dict | None = None,
               wall_utc: datetime | None = None) -> float:
    """Race time (s) of "now".

    For a race followed live, the feed's race clock at its last poll (``live_state.clock_s``
    at ``last_poll_at``, naive UTC) advanced by the wall clock since: the broadcast runs on
    that clock, not on the last car to cross the line. Otherwise (a finished or imported race,
    no clock in the feed) the latest stored crossing.

    Args:
        latest_crossing_s: race time of the latest stored line crossing.
        live: the race's ``live_state`` row (``RaceStore.live_state``) or None.
        wall_utc: the wall clock (naive UTC); None = the clock-based estimate is not used.
    """
    latest = float(latest_crossing_s or 0.0)
    if not live or not live.get("active") or wall_utc is None:
        return latest
    clock, polled = live.get("clock_s"), live.get("last_poll_at")
    if clock is None or polled is None or _missing(clock) or _missing(polled):
        return latest
    since_s = (wall_utc - polled.to_pydatetime().replace(tzinfo=None)
               if hasattr(polled, "to_pydatetime") else wall_utc - polled).total_seconds()
    if not 0 <= since_s <= MAX_CLOCK_EXTRAPOLATION_S:
        return latest
    return max(latest, float(clock) + since_s)


def _missing(value: object) -> bool:
    try:
        return bool(value != value)  # NaN / NaT
    except (TypeError, ValueError):
        return False


def as_of_s(now_s: float, delay_s: float = 0.0, replay_t_s: float | None = None
            ) -> float | None:
    """The race time every view shows: (``replay_t_s`` or ``now_s``) − ``delay_s``, never
    before the start; None (the latest data, followed as it comes) with no delay and no
    replay."""
    delay = clamp_delay_s(delay_s)
    if replay_t_s is None and delay == 0:
        return None
    base = float(now_s if replay_t_s is None else replay_t_s)
    return max(0.0, base - delay)


def sync_delay_s(now_s: float, last_crossing_s: float | None) -> int:
    """The delay that makes a car's last stored crossing be "now" on screen: the user taps
    when the broadcast shows that car crossing the line. 0 when the car has no crossing."""
    if last_crossing_s is None or _missing(last_crossing_s):
        return 0
    return clamp_delay_s(float(now_s) - float(last_crossing_s))


def delay_caption(as_of: float | None, now_s: float) -> str:
    """One line for the sidebar: the moment the views show."""
    from race.present.presentation import clock_text

    if as_of is None:
        return "Views show the latest data."
    return (f"Views show the race at {clock_text(as_of)}, "
            f"{max(0.0, now_s - as_of):.0f} s behind now.")


# -- rows as of a moment (a delayed or replayed view sees only what had happened) -----------
def laps_until(laps: pd.DataFrame, as_of: float | None, column: str = "elapsed_s"
               ) -> pd.DataFrame:
    """Rows whose ``column`` (a line crossing's race time, s) is at or before ``as_of``
    (all when None). Lap-history rows (``race.present.views.lap_history``) are causal: a
    row's position and gap depend only on earlier crossings, so these are the rows a replay
    at ``as_of`` computes."""
    if as_of is None or laps.empty:
        return laps
    return laps[laps[column] <= as_of]


def periods_until(periods: pd.DataFrame, as_of: float | None) -> pd.DataFrame:
    """Flag periods begun by ``as_of``, one still running then ending at ``as_of``."""
    if as_of is None or periods.empty:
        return periods
    begun = periods[periods["start_s"] <= as_of]
    return begun.assign(end_s=begun["end_s"].clip(upper=as_of).fillna(as_of))
