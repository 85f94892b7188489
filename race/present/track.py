"""The track-position ring's inputs: the race time it shows, and its caption (the laps it
reads come with the running order's, ``ui.data.live_laps``).

The ring (``ui.track_chart``) shows ``race.analysis.track_position`` as of one race time:
a replay's moment; during a live race the race clock now (the last poll's clock plus the
time since, so the cars move between polls); else the latest crossing (a finished race).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pandas as pd

# Polls stop (an outage, the feed finished): the cars move on for this long, then wait.
MAX_EXTRAPOLATION_S = 60.0


def as_of_s(t_s: float | None, latest_s: float, live: dict | None,
            now: datetime | None = None) -> float:
    """The race time the ring shows (s).

    Args:
        t_s: a replay's moment (None: follow the race).
        latest_s: the race's latest stored crossing (s).
        live: the race's ``live_state`` row while it is followed live (``active``), else None.
        now: the wall clock (UTC; default now).
    """
    if t_s is not None:
        return float(t_s)
    if not live or not live.get("active") or live.get("last_poll_at") is None \
            or pd.isna(live.get("last_poll_at")):
        return float(latest_s)
    now = now or datetime.now(UTC).replace(tzinfo=None)
    polled = pd.Timestamp(live["last_poll_at"]).tz_localize(None).to_pydatetime()
    since = min(max((now - polled).total_seconds(), 0.0), MAX_EXTRAPOLATION_S)
    clock = live.get("clock_s")
    clock = float(clock) if clock is not None and not math.isnan(float(clock)) else latest_s
    return max(clock, float(latest_s)) + since


def ring_caption(positions: pd.DataFrame) -> str:
    """One line under the ring: how it is estimated, and who is not drawn."""
    pit = int(positions["in_pit"].sum())
    stopped = int((positions["status"] == "stopped").sum())
    parts = ["Estimated from each car's last crossing, sectors and recent pace",
             "hollow: a lap or more down in its class"]
    if pit:
        parts.append(f"{pit} in the pit lane")
    if stopped:
        parts.append(f"{stopped} stopped, not drawn")
    return " · ".join(parts) + "."
