"""Head-to-head: two cars of one race side by side (no Streamlit).

Everything is read from the stored laps, stints and pit stops; the definitions are the
project's own, not new ones:

* the **gap** at lap k is car B's crossing of lap k minus car A's (> 0: A ahead), at every
  lap both completed; it is known at the later of the two crossings (``t_s``). When the car
  ahead had already completed another lap by then, the cars are ``laps_apart`` laps apart
  (> 0: A a lap or more ahead);
* the **lap delta** of lap k is B's lap time minus A's (> 0: A faster on that lap, the gap
  grows by it); a lap either car began or ended in the pits is a pit lap, one either car
  drove under a neutralisation (``laps.neutralised``) a neutralised lap;
* **clean laps** are the stored ``clean`` column (``race.analysis.laps``: not lap 1, not an
  in/out lap, not neutralised, not the first lap after a restart; ML.md S_clean);
* a **stop's cost** is the strategy's (``race.strategy.stop_cost.measure_stops``: in-lap +
  out-lap − 2 × the median clean lap among the 6 laps before the in-lap); NaN when the car
  had too few clean laps before the stop;
* **drive time** per driver is the Stints page's (``race.present.views.drive_time_rows``:
  the sum of the driver's stint times).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from race.present.presentation import lap_time_text
from race.present.views import drive_time_rows
from race.strategy.stop_cost import measure_stops

# The laps the comparison reads (``ui.data.head_to_head_laps``).
LAP_COLUMNS = [
    "number", "class", "team", "lap_number", "driver_number", "driver_name", "lap_time_s",
    "elapsed_s", "start_s", "in_lap", "out_lap", "pit_time_s", "neutralised", "clean",
    "stint_number", "s1_s", "s2_s", "s3_s",
]
SECTORS = (("S1", "s1_s"), ("S2", "s2_s"), ("S3", "s3_s"))
PACE_COLUMNS = ["Stint", "Driver", "Laps", "Clean laps", "Median clean", "Best clean",
                "S1", "S2", "S3"]
STOP_COLUMNS = ["Stop", "In lap", "Race time", "Pit time", "Stop cost", "Driver change",
                "Under"]
DRIVE_COLUMNS = ["Driver", "Drive time", "Share", "Laps", "Stints", "Longest stint"]


# -- which two cars ------------------------------------------------------------------------
def default_pair(board: pd.DataFrame, focus: str | None,
                 classes: tuple[str, ...] = ()) -> tuple[str | None, str | None]:
    """The two cars shown first: the focus car and the car just ahead of it in class; when
    the focus car leads its class (or there is none), the class's two leaders.

    Args:
        board: leaderboard rows (``race.present.views.leaderboard``: ``number``, ``class``,
            ``PIC``), fastest class first.
        focus: the focus car, or None.
        classes: the classes shown (empty: all); used when there is no focus car.
    """
    if board.empty:
        return None, None
    rows = board.assign(number=board["number"].astype(str))
    mine = rows[rows["number"] == focus] if focus is not None else rows.iloc[:0]
    if len(mine):
        cls, pic = mine["class"].iloc[0], int(mine["PIC"].iloc[0])
        ahead = rows[(rows["class"] == cls) & (rows["PIC"] == pic - 1)]
        if len(ahead):
            return str(focus), str(ahead["number"].iloc[0])
    else:
        shown = rows[rows["class"].isin(list(classes))] if classes else rows
        cls = (shown if len(shown) else rows)["class"].iloc[0]
    leaders = rows[rows["class"] == cls].sort_values("PIC", kind="stable")["number"].tolist()
    padded = [*leaders, None, None]
    return padded[0], padded[1]


# -- gap and lap deltas --------------------------------------------------------------------
def _car(laps: pd.DataFrame, number: str) -> pd.DataFrame:
    car = laps[laps["number"].astype(str) == str(number)]
    return car.sort_values("lap_number", kind="stable").drop_duplicates("lap_number")


def _laps_done_at(car: pd.DataFrame, t_s: np.ndarray) -> np.ndarray:
    """The lap number of the car's last crossing at or before each time (0 before any)."""
    elapsed = car["elapsed_s"].to_numpy(dtype=float)
    known = np.isfinite(elapsed)
    if not known.any():
        return np.zeros(len(t_s), dtype=np.int64)
    order = np.argsort(elapsed[known], kind="stable")
    crossings = elapsed[known][order]
    # the most laps completed by each crossing (lap numbers grow with time)
    laps = np.maximum.accumulate(car["lap_number"].to_numpy(dtype=np.int64)[known][order])
    idx = np.searchsorted(crossings, t_s, side="right") - 1
    return np.where(idx >= 0, laps[np.maximum(idx, 0)], 0)


def gap_series(laps: pd.DataFrame, a: str, b: str) -> pd.DataFrame:
    """The gap between A and B at every lap both completed.

    Returns:
        One row per common lap: ``lap_number``, ``a_s``, ``b_s`` (the crossings, race s),
        ``t_s`` (the later one: when the gap is known), ``gap_s`` (B − A: > 0 A ahead),
        ``laps_apart`` (whole laps between them at ``t_s``: > 0 A that many laps ahead,
        < 0 B ahead, 0 on the same lap), ``text`` (``"#7 ahead by 1.234 s"``, ``"#7 ahead
        by 2 laps"``).
    """
    car_a, car_b = _car(laps, a), _car(laps, b)
    both = car_a[["lap_number", "elapsed_s"]].merge(
        car_b[["lap_number", "elapsed_s"]], on="lap_number", suffixes=("_a", "_b"))
    both = both.dropna(subset=["elapsed_s_a", "elapsed_s_b"])
    a_s = both["elapsed_s_a"].to_numpy(dtype=float)
    b_s = both["elapsed_s_b"].to_numpy(dtype=float)
    lap = both["lap_number"].to_numpy(dtype=np.int64)
    t_s = np.maximum(a_s, b_s)
    gap = np.round(b_s - a_s, 3)
    # The car ahead (first across lap k) had completed this many laps when the other
    # crossed lap k: one more than k means a lap ahead.
    ahead_a = gap > 0
    done_a = _laps_done_at(car_a, t_s)
    done_b = _laps_done_at(car_b, t_s)
    apart = np.where(ahead_a, done_a - lap, -(done_b - lap))
    apart = np.where(gap == 0, 0, apart).astype(np.int64)
    return pd.DataFrame({
        "lap_number": lap, "a_s": a_s, "b_s": b_s, "t_s": t_s, "gap_s": gap,
        "laps_apart": apart,
        "text": [gap_words(a, b, g, n) for g, n in zip(gap.tolist(), apart.tolist(),
                                                        strict=True)],
    })


def gap_words(a: str, b: str, gap_s: float, laps_apart: int) -> str:
    """``"#7 ahead by 1.234 s"`` / ``"#8 ahead by 2 laps"`` / ``"level"``."""
    if gap_s is None or (isinstance(gap_s, float) and math.isnan(gap_s)):
        return "—"
    if gap_s == 0:
        return "level"
    leader = a if gap_s > 0 else b
    if abs(laps_apart) >= 1:
        n = abs(int(laps_apart))
        return f"#{leader} ahead by {n} lap{'s' if n != 1 else ''}"
    seconds = abs(gap_s)
    amount = f"{seconds:.3f} s" if seconds < 60 else lap_time_text(seconds)
    return f"#{leader} ahead by {amount}"


def lap_deltas(laps: pd.DataFrame, a: str, b: str) -> pd.DataFrame:
    """Lap-by-lap delta at every lap both completed with a time.

    Returns:
        ``lap_number``, ``t_s`` (the later crossing), ``a_lap_s``, ``b_lap_s``, ``delta_s``
        (B − A: > 0 A faster on that lap), ``kind`` (``pit``: an in- or out-lap of either
        car; ``neutralised``: either car's lap overlapped a neutralisation; else
        ``green``).
    """
    cols = ["lap_number", "elapsed_s", "lap_time_s", "in_lap", "out_lap", "neutralised"]
    both = _car(laps, a)[cols].merge(_car(laps, b)[cols], on="lap_number",
                                     suffixes=("_a", "_b"))
    both = both.dropna(subset=["lap_time_s_a", "lap_time_s_b"])

    def flag(name: str) -> np.ndarray:
        return (both[f"{name}_a"].fillna(False).to_numpy(dtype=bool)
                | both[f"{name}_b"].fillna(False).to_numpy(dtype=bool))

    pit = flag("in_lap") | flag("out_lap")
    neutral = flag("neutralised")
    a_lap = both["lap_time_s_a"].to_numpy(dtype=float)
    b_lap = both["lap_time_s_b"].to_numpy(dtype=float)
    return pd.DataFrame({
        "lap_number": both["lap_number"].to_numpy(dtype=np.int64),
        "t_s": np.maximum(both["elapsed_s_a"].to_numpy(dtype=float),
                          both["elapsed_s_b"].to_numpy(dtype=float)),
        "a_lap_s": a_lap, "b_lap_s": b_lap, "delta_s": np.round(b_lap - a_lap, 3),
        "kind": np.where(pit, "pit", np.where(neutral, "neutralised", "green")),
    })


# -- pace, stops, drive time ---------------------------------------------------------------
def has_sectors(laps: pd.DataFrame) -> bool:
    """Whether the source gave sector times (WEC ≤ 2019 files and live laps may not)."""
    return any(col in laps and laps[col].notna().any() for _, col in SECTORS)


def stint_pace(laps: pd.DataFrame, number: str) -> pd.DataFrame:
    """Clean-lap pace per stint of one car: laps, clean laps, median and best clean lap,
    median clean S1/S2/S3 (NaN where the source has no sectors or the stint no clean lap).

    Returns:
        ``PACE_COLUMNS`` (times in s) plus ``number`` and ``class`` helpers, by stint.
    """
    car = _car(laps, number)
    if car.empty:
        return pd.DataFrame(columns=[*PACE_COLUMNS, "number", "class"])
    clean = car["clean"].fillna(False).to_numpy(dtype=bool)
    work = car.assign(clean_lap_s=car["lap_time_s"].where(clean),
                      **{name: car[col].where(clean) if col in car else np.nan
                         for name, col in SECTORS})
    per = work.groupby("stint_number", sort=True).agg(
        driver=("driver_name", "first"), laps=("lap_number", "size"),
        clean_laps=("clean_lap_s", "count"), median_s=("clean_lap_s", "median"),
        best_s=("clean_lap_s", "min"), S1=("S1", "median"), S2=("S2", "median"),
        S3=("S3", "median"), cls=("class", "first")).reset_index()
    return pd.DataFrame({
        "Stint": per["stint_number"].astype(int), "Driver": per["driver"],
        "Laps": per["laps"].astype(int), "Clean laps": per["clean_laps"].astype(int),
        "Median clean": per["median_s"].round(3), "Best clean": per["best_s"],
        "S1": per["S1"].round(3), "S2": per["S2"].round(3), "S3": per["S3"].round(3),
        "number": str(number), "class": per["cls"],
    })


def pace_summary(laps: pd.DataFrame, number: str) -> dict[str, float | int]:
    """The car's whole-race clean pace: clean laps, median and best clean lap, sector
    medians (s; NaN when unknown)."""
    car = _car(laps, number)
    clean = car[car["clean"].fillna(False).astype(bool)]
    out: dict[str, float | int] = {
        "clean_laps": len(clean),
        "median_s": float(clean["lap_time_s"].median()) if len(clean) else math.nan,
        "best_s": float(clean["lap_time_s"].min()) if len(clean) else math.nan}
    for name, col in SECTORS:
        values = clean[col].dropna() if col in clean else pd.Series(dtype=float)
        out[name] = float(values.median()) if len(values) else math.nan
    return out


def stops(pit_stops: pd.DataFrame, laps: pd.DataFrame, number: str) -> pd.DataFrame:
    """One car's pit stops with their cost (``STOP_COLUMNS``; times in s, race time of
    the pit entry) plus ``number`` and ``class`` helpers."""
    mine = pit_stops[pit_stops["number"].astype(str) == str(number)].sort_values(
        "stop_number", kind="stable")
    if mine.empty:
        return pd.DataFrame(columns=[*STOP_COLUMNS, "number", "class"])
    car = _car(laps, number).reset_index(drop=True)
    cost = pd.Series(dtype=float)
    if len(car):
        measured = measure_stops(car.assign(
            clean_c=car["clean"].fillna(False).astype(bool),
            neutral_c=car["neutralised"].fillna(False).astype(bool)))
        cost = measured.drop_duplicates("in_lap").set_index("in_lap")["cost_s"]
    in_lap = mine["in_lap"].astype("Int64")
    return pd.DataFrame({
        "Stop": mine["stop_number"].astype(int).to_numpy(),
        "In lap": in_lap.to_numpy(),
        "Race time": mine["pit_in_elapsed_s"].to_numpy(dtype=float),
        "Pit time": mine["pit_time_s"].to_numpy(dtype=float),
        "Stop cost": np.round([np.nan if pd.isna(k) else float(cost.get(int(k), np.nan))
                               for k in in_lap], 3),
        "Driver change": mine["driver_change"].astype("boolean").to_numpy(),
        "Under": np.where(mine["neutralised"].fillna(False).astype(bool), "neutralised",
                          "green"),
        "number": str(number), "class": mine["class"].to_numpy(),
    })


def drive_time(stints: pd.DataFrame, number: str) -> pd.DataFrame:
    """Drive time per driver of one car (``DRIVE_COLUMNS`` plus helpers), longest first."""
    mine = stints[stints["number"].astype(str) == str(number)]
    rows = drive_time_rows(mine)
    if rows.empty:
        return pd.DataFrame(columns=[*DRIVE_COLUMNS, "number", "class"])
    return rows.drop(columns=["No.", "Class"]).reset_index(drop=True)


def both_cars(frames: dict[str, pd.DataFrame], a: str, b: str) -> pd.DataFrame:
    """One table of the two cars' rows, A's first, with the car number as column ``No.``
    (class-coloured by the table helpers ``number`` and ``class``)."""
    parts = [frames[n].assign(**{"No.": str(n)}) for n in (a, b) if len(frames[n])]
    if not parts:
        return pd.DataFrame(columns=["No.", *next(iter(frames.values())).columns])
    rows = pd.concat(parts, ignore_index=True)
    return rows[["No.", *[c for c in rows.columns if c != "No."]]]


# -- the whole comparison ------------------------------------------------------------------
@dataclass(frozen=True)
class HeadToHead:
    """Two cars compared (see the module docstring for every definition)."""

    a: str
    b: str
    gap: pd.DataFrame        # gap_series
    deltas: pd.DataFrame     # lap_deltas
    pace: dict[str, pd.DataFrame]      # car → stint_pace
    summary: dict[str, dict]           # car → pace_summary
    stops: dict[str, pd.DataFrame]     # car → stops
    drive: dict[str, pd.DataFrame]     # car → drive_time
    sectors: bool            # the race has sector times
    headline: str            # the latest gap in words, with the lap


def compare(laps: pd.DataFrame, stints: pd.DataFrame, pit_stops: pd.DataFrame, a: str,
            b: str) -> HeadToHead:
    """Cars ``a`` and ``b`` compared over the whole race (or the laps stored so far).

    Args:
        laps: the race's laps (``LAP_COLUMNS``).
        stints: the race's stints table.
        pit_stops: the race's pit_stops table.
    """
    a, b = str(a), str(b)
    gap = gap_series(laps, a, b)
    if gap.empty:
        headline = f"#{a} and #{b} have no lap in common yet."
    else:
        last = gap.iloc[-1]
        headline = (f"{gap_words(a, b, float(last['gap_s']), int(last['laps_apart']))} "
                    f"after lap {int(last['lap_number'])}")
    return HeadToHead(
        a=a, b=b, gap=gap, deltas=lap_deltas(laps, a, b),
        pace={n: stint_pace(laps, n) for n in (a, b)},
        summary={n: pace_summary(laps, n) for n in (a, b)},
        stops={n: stops(pit_stops, laps, n) for n in (a, b)},
        drive={n: drive_time(stints, n) for n in (a, b)},
        sectors=has_sectors(laps[laps["number"].astype(str).isin([a, b])]),
        headline=headline)


def delta_summary(deltas: pd.DataFrame, a: str, b: str) -> str:
    """One line on the green laps: who was faster on how many, and the median delta."""
    green = deltas[deltas["kind"] == "green"]
    if green.empty:
        return "No green lap in common yet."
    a_faster = int((green["delta_s"] > 0).sum())
    b_faster = int((green["delta_s"] < 0).sum())
    median = float(green["delta_s"].median())
    who = a if median > 0 else b
    median_text = ("level on the median green lap" if median == 0 else
                   f"#{who} {abs(median):.3f} s a lap faster on the median green lap")
    return (f"{len(green)} green laps in common: #{a} faster on {a_faster}, #{b} on "
            f"{b_faster}; {median_text}.")


def summary_rows(h2h: HeadToHead, cars: pd.DataFrame) -> pd.DataFrame:
    """One row per car: clean laps, median and best clean lap, sector medians, stops and
    their total pit time (s; NaN without a stop), with ``No.``, ``number``, ``class``."""
    cls = cars.assign(number=cars["number"].astype(str)).set_index("number")["class"]
    return pd.DataFrame([
        {"No.": n, "Clean laps": s["clean_laps"], "Median clean": s["median_s"],
         "Best clean": s["best_s"], "S1": s["S1"], "S2": s["S2"], "S3": s["S3"],
         "Stops": len(h2h.stops[n]),
         "Pit time": float(h2h.stops[n]["Pit time"].sum()) if len(h2h.stops[n]) else math.nan,
         "number": n, "class": cls.get(n)}
        for n, s in h2h.summary.items()])
