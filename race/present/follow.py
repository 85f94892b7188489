"""Followed (starred) cars: what to tell the user about them since they last looked.

The Live page's fragment asks every 5 s; ``notifications`` answers from the race feed
(``race.present.queries.race_feed`` rows: pit in, pit out, class lead, class fastest lap,
alert) between two race times, and from the class positions of two leaderboards. Pure
functions: ``ui/follow.py`` keeps the per-session watermark and shows the toasts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

TOAST_KINDS = ("pit_in", "pit_out", "class_lead", "class_fastest_lap", "alert")
ICONS = {"pit_in": ":material/login:", "pit_out": ":material/logout:",
         "class_lead": ":material/military_tech:", "class_fastest_lap": ":material/timer:",
         "alert": ":material/warning:", "position": ":material/swap_vert:"}
# A jump of the watched moment by more than this (a replay moved, a delay changed, a first
# look at a race) is a new starting point: its history is not replayed as toasts.
MAX_STEP_S = 600.0
MAX_TOASTS = 4  # per refresh; the rest in one line


@dataclass(frozen=True)
class Notice:
    """One toast: its text, a Material icon, the race time it happened (s)."""

    text: str
    icon: str
    t_s: float


def class_positions(board: pd.DataFrame, followed: Sequence[str]) -> dict[str, tuple[str, int]]:
    """Class and class position (``PIC``) of each followed car on a leaderboard
    (``race.present.views.leaderboard``) that has completed a lap."""
    if board.empty or not followed:
        return {}
    rows = board[board["number"].isin(list(followed)) & board["Laps"].gt(0)]
    return {str(n): (str(c), int(p)) for n, c, p in
            zip(rows["number"], rows["class"], rows["PIC"], strict=True)}


def followed_events(feed: pd.DataFrame, followed: Sequence[str], since_s: float,
                    until_s: float) -> pd.DataFrame:
    """Feed rows of the toast kinds for the followed cars in (``since_s``, ``until_s``]."""
    if feed.empty or not followed:
        return feed.iloc[:0]
    keep = (feed["kind"].isin(TOAST_KINDS) & feed["number"].isin(list(followed))
            & (feed["t_s"] > since_s) & (feed["t_s"] <= until_s))
    return feed[keep]


def notifications(feed: pd.DataFrame, followed: Sequence[str], since_s: float, until_s: float,
                  before: dict[str, tuple[str, int]], after: dict[str, tuple[str, int]],
                  ) -> list[Notice]:
    """What happened to the followed cars between ``since_s`` and ``until_s`` (race time, s),
    oldest first: their events, then each class position change between the leaderboards
    ``before`` and ``after`` (``class_positions``) that no class-lead event already tells."""
    events = followed_events(feed, followed, since_s, until_s)
    out = [Notice(f"★ {text}", ICONS.get(kind, ":material/info:"), float(t))
           for t, kind, text in zip(events["t_s"], events["kind"], events["text"],
                                    strict=True)]
    led = set(events.loc[events["kind"] == "class_lead", "number"])
    for number in followed:
        if number not in before or number not in after:
            continue
        (cls_was, was), (cls, now) = before[number], after[number]
        if cls_was != cls or was == now or (now == 1 and number in led):
            continue
        way = "up" if now < was else "down"
        out.append(Notice(f"★ #{number} {way} to P{now} in {cls} (was P{was})",
                          ICONS["position"], float(until_s)))
    return out


def shown_notices(notices: list[Notice], limit: int = MAX_TOASTS) -> list[Notice]:
    """At most ``limit`` toasts: the newest ``limit − 1`` and one line for the rest."""
    if len(notices) <= limit:
        return notices
    rest = len(notices) - (limit - 1)
    kept = notices[-(limit - 1):]
    return [Notice(f"★ {rest} more for followed cars: see the Race feed",
                   ":material/dynamic_feed:", kept[0].t_s), *kept]
