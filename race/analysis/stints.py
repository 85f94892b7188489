"""Stints, pit stops, cars and drivers tables derived from the laps of one race."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from race.rows import nullable_ints


def pit_stops(laps: pd.DataFrame) -> pd.DataFrame:
    """One row per pit stop: the out-lap carries PIT_TIME (a pit-lane start is not a stop).

    The in-lap is the previous lap when it crossed in the pit lane (B); on IMSA red-flag rows
    B and PIT_TIME sit on the same long lap, which is then both in- and out-lap. A car that
    retires in the pits has an in-lap and no stop.
    """
    # The row before each lap, for the columns a stop reads (not the whole frame).
    prev = laps[["number", "lap_number", "in_lap", "elapsed_s", "driver_name",
                 "driver_number", "neutralised"]].shift(1)
    same_car = laps["number"].eq(prev["number"])
    rows = laps["pit_time_s"].notna() & same_car
    frame = stops_from_rows(laps.loc[rows], prev.loc[rows])
    frame["stop_number"] = frame.groupby("number", sort=False).cumcount() + 1
    return frame


def stop_columns(stops: pd.DataFrame | Mapping[str, np.ndarray],
                 prev: pd.DataFrame | Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Pit-stop rows from out-laps (rows carrying PIT_TIME) and the lap before each, as
    column arrays: ``in_lap`` (None when the car did not cross the line in the pit lane)
    and ``driver_change`` (None when either driver is unknown) are object arrays.

    Args:
        stops: the out-lap rows (derived laps; a DataFrame or column arrays).
        prev: the row before each out-lap, same car, aligned with ``stops``.
    """
    def arr(rows: pd.DataFrame | Mapping[str, np.ndarray], name: str,
            dtype: object = None) -> np.ndarray:
        values = rows[name]
        if isinstance(values, pd.Series):
            return values.to_numpy(dtype=dtype, na_value=np.nan) if dtype is float else \
                values.to_numpy(dtype=dtype)
        return np.asarray(values, dtype=dtype)

    prev_in = arr(prev, "in_lap", bool)
    own_in = arr(stops, "in_lap", bool)
    prev_lap = arr(prev, "lap_number", float)
    own_lap = arr(stops, "lap_number", float)
    in_lap = np.where(prev_in, prev_lap, np.where(own_in, own_lap, np.nan))
    pit_in = np.where(prev_in, arr(prev, "elapsed_s", float), arr(stops, "start_s", float))
    # A driver change is unknown (None) when either driver number is.
    driver_before = arr(prev, "driver_number", float)
    driver_after = arr(stops, "driver_number", float)
    unknown = np.isnan(driver_before) | np.isnan(driver_after)
    return {
        "number": arr(stops, "number"),
        "in_lap": nullable_ints(in_lap.tolist()),
        "out_lap": arr(stops, "lap_number"),
        "pit_in_elapsed_s": pit_in.astype(float),
        "pit_time_s": arr(stops, "pit_time_s", float),
        "driver_in": arr(prev, "driver_name"),
        "driver_out": arr(stops, "driver_name"),
        "driver_change": np.array([None if u else bool(c) for u, c in zip(
            unknown.tolist(), (driver_before != driver_after).tolist(), strict=True)],
            dtype=object),
        "neutralised": arr(stops, "neutralised", bool) | np.where(
            prev_in, arr(prev, "neutralised", bool), False),
        "class": arr(stops, "class"),
    }


def stops_from_rows(stops: pd.DataFrame | Mapping[str, np.ndarray],
                    prev: pd.DataFrame | Mapping[str, np.ndarray]) -> pd.DataFrame:
    """Pit-stop rows from out-laps (rows carrying PIT_TIME) and the lap before each.

    Used by ``pit_stops`` on a whole race (the live path uses ``stop_columns``).

    Returns:
        One row per stop, without ``stop_number`` (the caller numbers them).
    """
    columns = stop_columns(stops, prev)
    return pd.DataFrame({
        **columns,
        "in_lap": pd.array(columns["in_lap"], dtype="Int64"),
        "driver_change": pd.array(columns["driver_change"], dtype="boolean"),
    })


def _runs(keys: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Order and run starts grouping rows by ``keys`` in order of first appearance.

    Rows of one group are usually contiguous already (laps sorted by car then lap): the
    order is then the identity and no sort is paid.
    """
    n = len(keys[0])
    codes = np.zeros(n, dtype=np.int64)
    for key in keys:
        c, uniques = pd.factorize(key, sort=False)
        codes = codes * (len(uniques) + 1) + c
    change = np.ones(n, dtype=bool)
    change[1:] = codes[1:] != codes[:-1]
    if change.sum() == len(pd.unique(codes)):
        return np.arange(n), np.flatnonzero(change)
    first_seen = pd.Series(np.arange(n)).groupby(codes).transform("min").to_numpy()
    order = np.argsort(first_seen, kind="stable")
    change = np.ones(n, dtype=bool)
    change[1:] = codes[order][1:] != codes[order][:-1]
    return order, np.flatnonzero(change)


def _first_valid(values: np.ndarray, starts: np.ndarray, last: bool = False) -> np.ndarray:
    """First (or last) non-missing value of each run (pandas' groupby first/last)."""
    valid = ~pd.isna(values)
    ends = np.append(starts[1:], len(values))
    pos = np.flatnonzero(valid)
    if last:
        idx = np.searchsorted(pos, ends, side="left") - 1
        ok = (idx >= 0) & (pos[np.maximum(idx, 0)] >= starts) if len(pos) else \
            np.zeros(len(starts), dtype=bool)
    else:
        idx = np.searchsorted(pos, starts, side="left")
        ok = (idx < len(pos)) & (pos[np.minimum(idx, len(pos) - 1)] < ends) if len(pos) \
            else np.zeros(len(starts), dtype=bool)
    out = np.full(len(starts), None if values.dtype == object else np.nan, dtype=object
                  if values.dtype == object else float)
    if len(pos):
        out[ok] = values[pos[np.clip(idx, 0, len(pos) - 1)][ok]]
    return out


STINT_TABLE_COLUMNS = ["number", "stint_number", "class", "driver_number", "driver_name",
                       "first_lap", "last_lap", "start_s", "end_s", "laps", "clean_laps",
                       "neutralised_laps", "best_clean_lap_s", "mean_clean_lap_s",
                       "drive_time_s", "ended_in_pit"]


def stint_columns(laps: pd.DataFrame | Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The stints of ``stints`` as column arrays (no DataFrame: the live path calls this
    every poll). Text columns and the driver number are object arrays, None when unknown."""
    if not len(laps["number"]):
        return {c: np.zeros(0, dtype=object) for c in STINT_TABLE_COLUMNS}
    order, starts = _runs([np.asarray(laps["number"]), np.asarray(laps["stint_number"])])

    def col(name: str, dtype: object = None) -> np.ndarray:
        values = laps[name]
        values = (values.to_numpy(dtype=dtype) if isinstance(values, pd.Series)
                  else np.asarray(values, dtype=dtype))
        return values[order]

    lap_time = col("lap_time_s", float)
    clean = col("clean", bool)
    clean_time = np.where(clean, lap_time, np.nan)
    clean_ok = ~np.isnan(clean_time)
    lap_number = col("lap_number", np.int64)
    count = np.diff(np.append(starts, len(order)))
    clean_count = np.add.reduceat(clean_ok.astype(np.int64), starts)
    clean_sum = np.add.reduceat(np.where(clean_ok, clean_time, 0.0), starts)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_clean = np.where(clean_count > 0, clean_sum / np.maximum(clean_count, 1), np.nan)
    driver_number = _first_valid(col("driver_number").astype(object), starts)
    return {
        "number": col("number")[starts],
        "stint_number": col("stint_number", np.int64)[starts],
        "class": _first_valid(col("class").astype(object), starts),
        "driver_number": nullable_ints(driver_number),
        "driver_name": _first_valid(col("driver_name").astype(object), starts),
        "first_lap": np.minimum.reduceat(lap_number, starts),
        "last_lap": np.maximum.reduceat(lap_number, starts),
        "start_s": _first_valid(col("start_s", float), starts).astype(float),
        "end_s": _first_valid(col("elapsed_s", float), starts, last=True).astype(float),
        "laps": count.astype(np.int64),
        "clean_laps": clean_count,
        "neutralised_laps": np.add.reduceat(col("neutralised", bool).astype(np.int64), starts),
        "best_clean_lap_s": np.fmin.reduceat(clean_time, starts),
        "mean_clean_lap_s": np.round(mean_clean, 3),
        "drive_time_s": np.add.reduceat(np.nan_to_num(lap_time, nan=0.0), starts),
        "ended_in_pit": col("in_lap", bool)[np.append(starts[1:], len(order)) - 1],
    }


def stints(laps: pd.DataFrame | Mapping[str, np.ndarray]) -> pd.DataFrame:
    """One row per car stint (laps between stops) with its driver and clean-lap pace.

    Aggregates as pandas' groupby would (first/last skip missing values, sums and means skip
    NaN) but with numpy run reductions (``stint_columns``).
    """
    if not len(laps["number"]):
        return pd.DataFrame(columns=STINT_TABLE_COLUMNS)
    columns = stint_columns(laps)
    driver_number = columns["driver_number"]
    missing = np.array([d is None for d in driver_number], dtype=bool)
    return pd.DataFrame({
        **columns,
        "class": pd.Series(columns["class"], dtype=object),
        "driver_number": pd.array(driver_number, dtype="Int64") if missing.any()
        else driver_number.astype(np.int64),
        "driver_name": pd.Series(columns["driver_name"], dtype=object),
    })


def cars(laps: pd.DataFrame) -> pd.DataFrame:
    """One row per car: class, team, manufacturer and laps completed."""
    columns = ["number", "class", "team", "manufacturer", "group_code", "laps",
               "pit_lane_start", "vehicle"]
    if laps.empty:
        return pd.DataFrame(columns=columns)
    order, starts = _runs([laps["number"].to_numpy()])

    def last(name: str) -> pd.Series:
        return pd.Series(_first_valid(laps[name].to_numpy().astype(object)[order], starts,
                                      last=True), dtype=object)

    frame = pd.DataFrame({
        "number": laps["number"].to_numpy()[order][starts],
        "class": last("class"), "team": last("team"), "manufacturer": last("manufacturer"),
        "group_code": last("group_code"),
        "laps": np.maximum.reduceat(laps["lap_number"].to_numpy(dtype=np.int64)[order],
                                    starts),
        "pit_lane_start": laps["pit_lane_start"].to_numpy(dtype=bool)[order][starts],
    })
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
