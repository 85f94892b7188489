"""The race feed shaped for the pages: the Live page's latest events (HTML, escaped) and the
Race feed page's table with its filters. Input: ``race.present.queries.race_feed`` rows."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from race.present.presentation import class_colour, escape
from race.timefmt import format_duration

KIND_LABELS = {"flag": "Flag", "pit_in": "Pit in", "pit_out": "Pit out",
               "driver_change": "Driver change", "class_lead": "Class lead",
               "class_fastest_lap": "Fastest lap", "retired": "Retired", "alert": "Alert"}
KIND_ICONS = {"flag": "⚑", "pit_in": "↘", "pit_out": "↗", "driver_change": "⇄",
              "class_lead": "▲", "class_fastest_lap": "◷", "retired": "✕", "alert": "!"}
FEED_COLUMNS = ["Time", "Kind", "Car", "Class", "Lap", "Event"]
LATEST = 15


def filter_feed(feed: pd.DataFrame, *, classes: Sequence[str] = (),
                numbers: Sequence[str] = (), kinds: Sequence[str] = (),
                until_s: float | None = None) -> pd.DataFrame:
    """Events of some classes (flags, which concern every class, stay), cars and kinds
    (empty = all) up to race time ``until_s``."""
    keep = pd.Series(True, index=feed.index)
    if classes:
        keep &= feed["class"].isin(list(classes)) | feed["class"].isna()
    if numbers:
        keep &= feed["number"].isin(list(numbers))
    if kinds:
        keep &= feed["kind"].isin(list(kinds))
    if until_s is not None:
        keep &= feed["t_s"] <= until_s
    return feed[keep]


def latest_events(feed: pd.DataFrame, n: int = LATEST, **filters: object) -> pd.DataFrame:
    """The ``n`` latest events (filters as ``filter_feed``), newest first."""
    return filter_feed(feed, **filters).tail(n).iloc[::-1]


def latest_events_html(events: pd.DataFrame, followed: Sequence[str] = ()) -> str:
    """The Live page's list of latest events (newest first); feed text escaped. Events of
    followed cars are bold with ★."""
    if events.empty:
        return '<div class="pw-feed"><em>No event yet.</em></div>'
    items = []
    for t, kind, number, cls, text in zip(events["t_s"], events["kind"], events["number"],
                                          events["class"], events["text"], strict=True):
        colour = class_colour(cls) if isinstance(cls, str) else "#888888"
        star = isinstance(number, str) and number in followed
        items.append(
            ('<li class="pw-feed-star">' if star else "<li>") +
            f'<span class="pw-feed-t">{escape(format_duration(t))}</span> '
            f'<span class="pw-feed-k" style="border-left:4px solid {colour}" '
            f'title="{escape(KIND_LABELS.get(kind, kind))}">{escape(KIND_ICONS.get(kind, "·"))}'
            f'</span> {"★ " if star else ""}{escape(text)}</li>')
    return ('<style>.pw-feed ul{list-style:none;padding:0;margin:0;font-size:0.85rem}'
            '.pw-feed li{padding:2px 0;border-bottom:1px solid rgba(128,128,128,.2)}'
            '.pw-feed-t{font-variant-numeric:tabular-nums;opacity:.7}'
            '.pw-feed-k{display:inline-block;width:1.6em;text-align:center;padding-left:2px}'
            '.pw-feed-star{font-weight:700}'
            '</style><div class="pw-feed"><ul>' + "".join(items) + "</ul></div>")


def feed_table(feed: pd.DataFrame, labels: dict[str, str] | None = None,
               followed: Sequence[str] = ()) -> pd.DataFrame:
    """The Race feed page's table (``FEED_COLUMNS``), in time order; ★ before followed
    cars."""
    labels = labels or {}

    def car(n: object) -> str:
        if not isinstance(n, str):
            return ""
        return ("★ " if n in followed else "") + labels.get(n, f"#{n}")

    return pd.DataFrame({
        "Time": [format_duration(t) for t in feed["t_s"]],
        "Kind": [KIND_LABELS.get(k, k) for k in feed["kind"]],
        "Car": [car(n) for n in feed["number"]],
        "Class": feed["class"].fillna("").to_numpy(),
        "Lap": feed["lap"].astype("Int64").to_numpy(),
        "Event": feed["text"].to_numpy(),
    })
