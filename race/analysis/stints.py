"""Stints, pit stops, cars and drivers tables derived from the laps of one race."""

from __future__ import annotations

import numpy as np
import pandas as pd


def pit_stops(laps: pd.DataFrame) -> pd.DataFrame:
    """One row per pit stop: the out-lap carries PIT_TIME (a pit-lane start is not a stop).

    The in-lap is the previous lap when it crossed in the pit lane (B); on IMSA red-flag rows
    B and PIT_TIME sit on the same long lap, which is then both in- and out-lap. A car that
    retires in the pits has an in-lap and no stop.
    """
    prev = laps.shift(1)
    same_car = laps["number"].eq(prev["number"])
    rows = laps["pit_time_s"].notna() & same_car
    stops = laps.loc[rows]
    prev = prev.loc[rows]
    prev_in = prev["in_lap"].astype(bool)
    own_in = stops["in_lap"].astype(bool)
    in_lap = np.where(prev_in, prev["lap_number"], np.where(own_in, stops["lap_number"], np.nan))
    pit_in = np.where(prev_in, prev["elapsed_s"], stops["start_s"])
    frame = pd.DataFrame({
        "number": stops["number"].to_numpy(),
        "in_lap": pd.array(in_lap, dtype="Int64"),
        "out_lap": stops["lap_number"].to_numpy(),
        "pit_in_elapsed_s": pit_in.astype(float),
        "pit_time_s": stops["pit_time_s"].to_numpy(),
        "driver_in": prev["driver_name"].to_numpy(),
        "driver_out": stops["driver_name"].to_numpy(),
        "driver_change": (prev["driver_number"].to_numpy()
                          != stops["driver_number"].to_numpy()),
        "neutralised": (stops["neutralised"].to_numpy(dtype=bool)
                        | np.where(prev_in, prev["neutralised"].astype(bool), False)),
        "class": stops["class"].to_numpy(),
    })
    frame["stop_number"] = frame.groupby("number", sort=False).cumcount() + 1
    return frame


def stints(laps: pd.DataFrame) -> pd.DataFrame:
    """One row per car stint (laps between stops) with its driver and clean-lap pace."""
    clean_time = laps["lap_time_s"].where(laps["clean"])
    work = laps.assign(clean_time=clean_time)
    grouped = work.groupby(["number", "stint_number"], sort=False)
    frame = grouped.agg(
        **{"class": ("class", "first"), "driver_number": ("driver_number", "first"),
           "driver_name": ("driver_name", "first"), "first_lap": ("lap_number", "min"),
           "last_lap": ("lap_number", "max"), "start_s": ("start_s", "first"),
           "end_s": ("elapsed_s", "last"), "laps": ("lap_number", "size"),
           "clean_laps": ("clean", "sum"), "neutralised_laps": ("neutralised", "sum"),
           "best_clean_lap_s": ("clean_time", "min"),
           "mean_clean_lap_s": ("clean_time", "mean"),
           "drive_time_s": ("lap_time_s", "sum"), "ended_in_pit": ("in_lap", "last")},
    ).reset_index()
    frame["mean_clean_lap_s"] = frame["mean_clean_lap_s"].round(3)
    return frame


def cars(laps: pd.DataFrame) -> pd.DataFrame:
    """One row per car: class, team, manufacturer and laps completed."""
    grouped = laps.groupby("number", sort=False)
    frame = grouped.agg(**{"class": ("class", "last"), "team": ("team", "last"),
                           "manufacturer": ("manufacturer", "last"),
                           "group_code": ("group_code", "last"),
                           "laps": ("lap_number", "max"),
                           "pit_lane_start": ("pit_lane_start", "first")}).reset_index()
    frame["vehicle"] = None
    return frame


def drivers(laps: pd.DataFrame) -> pd.DataFrame:
    """One row per (car, driver index) with the driver's name as written in the lap file."""
    frame = (laps.groupby(["number", "driver_number"], sort=False)["driver_name"].first()
             .reset_index())
    frame["licence"] = None
    frame["country"] = None
    return frame


def drive_time(laps: pd.DataFrame) -> pd.DataFrame:
    """Per driver: total drive time (sum of the driver's laps, s), laps, stints, share of car."""
    per = laps.groupby(["number", "driver_number"], sort=False).agg(
        driver_name=("driver_name", "first"), drive_time_s=("lap_time_s", "sum"),
        laps=("lap_number", "size"), stints=("stint_number", "nunique")).reset_index()
    total = per.groupby("number")["drive_time_s"].transform("sum")
    per["share"] = (per["drive_time_s"] / total).round(4)
    return per
