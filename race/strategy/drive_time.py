"""Driver time: who has driven how long, and who may miss a minimum drive-time rule.

Drive time is the sum of the driver's lap times (pit time included in the out-lap, as the
lap file has it). The rules are editable settings in ``drive_time_rules.csv`` (series, class
pattern, race length band, driver rating, minimum and maximum minutes); their values come
from public rules and several are approximate (the ``note`` column says which).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from race.analysis.stints import drive_time
from race.strategy.tracks import class_key

RULES_PATH = Path(__file__).with_name("drive_time_rules.csv")
AMATEUR_RATINGS = {"BRONZE", "SILVER"}
# a driver still owing time is at risk when what the car's drivers still owe exceeds this
# share of the time left (the car also needs its pro drivers, pit time, cautions …)
RISK_SHARE = 0.8


def load_rules(path: str | Path = RULES_PATH) -> pd.DataFrame:
    """The drive-time rules table (minutes converted to ``min_drive_s``/``max_drive_s``)."""
    rules = pd.read_csv(path, dtype={"series": str, "class": str, "rating": str})
    rules["min_drive_s"] = rules["min_drive_min"].astype(float) * 60.0
    rules["max_drive_s"] = rules["max_drive_min"].astype(float) * 60.0
    return rules


def _records(rules: pd.DataFrame) -> list[dict]:
    """Rule rows as dicts with their class patterns parsed (cached on the frame)."""
    cached = rules.attrs.get("_records")
    if cached is None:
        cached = rules.to_dict("records")
        for row in cached:
            row["classes"] = {c.strip() if c.strip() == "*" else class_key(c)
                              for c in str(row["class"]).split("|")}
        rules.attrs["_records"] = cached
    return cached


def rule_for(rules: pd.DataFrame, series: str, cls: str, race_hours: float,
             rating: str | None) -> tuple[float, float]:
    """(minimum, maximum) drive time in seconds for one driver; NaN where no rule applies.

    The most specific matching row wins: an amateur (Bronze/Silver) row over an ``any`` row,
    a named class over ``*``.
    """
    ck = class_key(cls)
    amateur = isinstance(rating, str) and rating.upper() in AMATEUR_RATINGS
    best: tuple[int, float, float] | None = None
    for row in _records(rules):
        if str(row["series"]).upper() != series.upper():
            continue
        classes = row["classes"]
        if "*" not in classes and ck not in classes:
            continue
        if not (row["min_hours"] <= race_hours < row["max_hours"]):
            continue
        if row["rating"] == "bronze_silver" and not amateur:
            continue
        score = (2 if row["rating"] == "bronze_silver" else 0) + (0 if "*" in classes else 1)
        if best is None or score > best[0]:
            best = (score, float(row["min_drive_s"]), float(row["max_drive_s"]))
    return (np.nan, np.nan) if best is None else (best[1], best[2])


def driver_summary(laps: pd.DataFrame, t_s: float, *,
                   roster: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per car and driver at race time ``t_s``: drive time, stints, share, time since driving.

    Args:
        laps: laps of one race (``number, driver_number, driver_name, lap_time_s,
            stint_number, elapsed_s`` …) sorted by car then lap.

    Returns:
        ``race.analysis.stints.drive_time`` columns on the laps up to ``t_s`` (``drive_time_s``
        = sum of the driver's laps) plus ``driver_stints`` (runs of that driver),
        ``driving`` (in the car now), ``since_last_s`` (time since the driver's last lap
        ended, 0 while driving). Drivers of ``roster`` (``number, driver_number,
        driver_name``) who have not driven yet get zero time and NaN ``since_last_s``.
    """
    done = laps[laps["elapsed_s"] <= t_s]
    if done.empty:
        return pd.DataFrame(columns=["number", "driver_number", "driver_name", "drive_time_s",
                                     "laps", "stints", "share", "driver_stints", "driving",
                                     "since_last_s"])
    per = drive_time(done)
    change = done["driver_number"].ne(done["driver_number"].shift()) | done["number"].ne(
        done["number"].shift())
    runs = done.assign(run=change.cumsum()).groupby(["number", "driver_number"], sort=False)[
        "run"].nunique().rename("driver_stints")
    last_lap = done.groupby(["number", "driver_number"], sort=False)["elapsed_s"].max()
    current = done.groupby("number", sort=False)["driver_number"].last()
    per = per.merge(runs.reset_index(), on=["number", "driver_number"], how="left")
    per["driving"] = per["driver_number"].to_numpy() == per["number"].map(current).to_numpy()
    ended = per.set_index(["number", "driver_number"]).index.map(last_lap)
    per["since_last_s"] = np.where(per["driving"], 0.0, t_s - np.asarray(ended, dtype=float))
    if roster is not None and len(roster):
        keys = ["number", "driver_number"]
        missing = roster[[*keys, "driver_name"]].merge(per[keys], on=keys, how="left",
                                                       indicator=True)
        missing = missing[(missing["_merge"] == "left_only")
                          & missing["number"].isin(per["number"])].drop(columns="_merge")
        if len(missing):
            missing = missing.assign(drive_time_s=0.0, laps=0, stints=0, share=0.0,
                                     driver_stints=0, driving=False, since_last_s=np.nan)
            per = pd.concat([per, missing], ignore_index=True).sort_values(
                keys, kind="stable").reset_index(drop=True)
    return per


def drive_time_status(summary: pd.DataFrame, *, series: str, classes: pd.Series,
                      race_hours: float, t_s: float, end_s: float | None,
                      ratings: pd.Series | None = None,
                      rules: pd.DataFrame | None = None) -> pd.DataFrame:
    """Add each driver's minimum/maximum drive time and whether the car may miss it.

    Args:
        summary: ``driver_summary`` output.
        classes: class per car number.
        race_hours: scheduled race length (h), selects the rule band.
        end_s: scheduled race end (s); None = unknown (no risk judgement).
        ratings: FIA rating per (number, driver_number) (IMSA results); unknown → ``any``.

    Returns:
        ``summary`` with ``min_drive_s, max_drive_s, owed_s`` (still to drive for the minimum)
        and ``status``: ``met``, ``owes``, ``at risk``, ``missed``, ``over max`` or ``no rule``.
    """
    rules = load_rules() if rules is None else rules
    out = summary.copy()
    mins, maxs = [], []
    seen: dict[tuple[str, object], tuple[float, float]] = {}
    for number, driver in zip(out["number"], out["driver_number"], strict=True):
        rating = None
        if ratings is not None:
            rating = ratings.get((number, driver))
        key = (str(classes.get(number, "")), rating)
        if key not in seen:
            seen[key] = rule_for(rules, series, key[0], race_hours, rating)
        lo, hi = seen[key]
        mins.append(lo)
        maxs.append(hi)
    out["min_drive_s"] = mins
    out["max_drive_s"] = maxs
    out["owed_s"] = np.clip(out["min_drive_s"] - out["drive_time_s"], 0.0, None)
    left = np.inf if end_s is None else max(end_s - t_s, 0.0)
    owed_by_car = out.groupby("number")["owed_s"].transform("sum").fillna(0.0)
    status = np.where(out["min_drive_s"].isna(), "no rule",
                      np.where(out["owed_s"] <= 0, "met", "owes")).astype(object)
    owes = status == "owes"
    status[owes & (owed_by_car.to_numpy() > RISK_SHARE * left)] = "at risk"
    if end_s is not None and t_s >= end_s:
        status[owes] = "missed"
    status[out["drive_time_s"].to_numpy() > out["max_drive_s"].fillna(np.inf).to_numpy()] = \
        "over max"
    out["status"] = status
    return out
