"""The starting driver's handover: a stop set by drive time, not by fuel.

Measured on the IMSA LMP2/LMP3 cars of the real races: the driver who starts the race (the
Bronze-rated amateur these classes require) hands over as soon as the minimum drive time is
made, even mid-stint. The starters' total drive times cluster tightly by race length (LMP2,
lower quartile to median: 6 h 1.58–1.62 h, 10 h 2.59–2.62 h, 12 h 3.10–3.14 h) and the stop
comes in the lap that passes it: at Petit Le Mans 2024 five LMP2 cars stopped after 18–27
green laps of a 34-lap tank for that reason alone. WEC cars showed no such pattern (the rule
made WEC LMP2 windows worse), so the rule is per series and class (``HANDOVER_CLASSES``):
IMSA LMP2 and LMP3 only. In IMSA GTD (also Pro-Am) it lowered the pit-lap MAE overall but
made it worse 10 laps ahead; in the pro classes (DPi, GTP) it made it worse.

The minimum is learned from history, not from the rule book: a low quantile of the starters'
total drive times in past races of the same series and class with a similar length.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# where the starter's minimum ends stints: series → class keys (editable)
HANDOVER_CLASSES: dict[str, frozenset[str]] = {"IMSA": frozenset({"LMP2", "LMP3"})}
STARTER_QUANTILE = 0.3      # of past starters' totals: the minimum most starters just made
MIN_STARTERS = 5            # past cars needed for an estimate
LENGTH_TOLERANCE = 0.1      # past races within ±10 % of this race's length count
STARTER_COLUMNS = ["class_key", "number", "starter_s", "race_s"]


def _driver_key(laps: pd.DataFrame) -> pd.Series:
    """The driver of each lap: ``driver_number`` when the file has it, else the name (all
    missing without either: no lap then has a known starter)."""
    for column in ("driver_number", "driver_name"):
        if column in laps and laps[column].notna().any():
            return laps[column]
    return pd.Series(np.nan, index=laps.index, dtype=object)


def starter_columns(laps: pd.DataFrame) -> pd.DataFrame:
    """Per lap: the lap's driver's drive time in this car so far and whether they started.

    Causal: a lap's values use that car's laps up to and including it only.

    Args:
        laps: ``number, lap_time_s`` and ``driver_number`` or ``driver_name``, sorted by car
            then lap.

    Returns:
        DataFrame aligned with ``laps``: ``drive_s`` (sum of the driver's lap times in this
        car, pit time of out-laps included, s) and ``starter_driving`` (the lap's driver drove
        the car's first lap).
    """
    if laps.empty:
        return pd.DataFrame({"drive_s": np.zeros(0), "starter_driving": np.zeros(0, bool)},
                            index=laps.index)
    key = _driver_key(laps)
    driver = key.astype(str).where(key.notna())
    number = laps["number"].astype(str)
    lap_s = laps["lap_time_s"].astype(float).fillna(0.0)
    drive = lap_s.groupby([number.to_numpy(), driver.fillna("\x00").to_numpy()],
                          sort=False).cumsum()
    starter = driver.groupby(number.to_numpy(), sort=False).transform("first")
    driving = (driver == starter) & driver.notna()
    return pd.DataFrame({"drive_s": drive.to_numpy(dtype=float),
                         "starter_driving": driving.to_numpy(dtype=bool)}, index=laps.index)


def starter_totals(laps: pd.DataFrame, class_keys: pd.Series) -> pd.DataFrame:
    """Per car with two or more drivers: the starting driver's total drive time (s).

    Args:
        laps: one finished race's laps (as ``starter_columns``), sorted by car then lap.
        class_keys: ``tracks.class_keys`` of the laps.

    Returns:
        ``class_key, number, starter_s, race_s`` (``race_s``: the race's last crossing, s).
    """
    if laps.empty:
        return pd.DataFrame(columns=STARTER_COLUMNS)
    driver = _driver_key(laps)
    work = pd.DataFrame({"ck": class_keys.to_numpy(), "number": laps["number"].to_numpy(),
                         "driver": driver.to_numpy(),
                         "lap_s": laps["lap_time_s"].astype(float).fillna(0.0).to_numpy()})
    rows = []
    for (ck, number), car in work.groupby(["ck", "number"], sort=False):
        first = car["driver"].iloc[0]
        if pd.isna(first) or car["driver"].nunique() < 2:
            continue
        rows.append((ck, number, float(car.loc[car["driver"] == first, "lap_s"].sum())))
    out = pd.DataFrame(rows, columns=STARTER_COLUMNS[:3])
    out["race_s"] = float(laps["elapsed_s"].max())
    return out


def starter_minimum(totals: pd.DataFrame, race_s: float, *,
                    quantile: float = STARTER_QUANTILE, min_cars: int = MIN_STARTERS,
                    tolerance: float = LENGTH_TOLERANCE) -> float:
    """The starting driver's minimum drive time (s) learned from past starters' totals.

    Args:
        totals: ``starter_totals`` rows of past races of one series and class.
        race_s: this race's scheduled length (s).

    Returns:
        The ``quantile`` of the totals of races within ``tolerance`` of ``race_s``; NaN with
        fewer than ``min_cars`` of them.
    """
    if totals.empty or not np.isfinite(race_s) or race_s <= 0:
        return np.nan
    length = totals["race_s"].to_numpy(dtype=float)
    near = np.abs(length / race_s - 1.0) <= tolerance
    values = totals["starter_s"].to_numpy(dtype=float)[near]
    if len(values) < min_cars:
        return np.nan
    return float(np.quantile(values, quantile))


def applies(series: str, ck: str) -> bool:
    """Whether the handover rule holds for a class key in a series (``HANDOVER_CLASSES``)."""
    return ck in HANDOVER_CLASSES.get(series.upper(), frozenset())


def handover_laps(expected: float, drive_s: float, minimum_s: float, pace_s: float) -> float:
    """Laps ahead of the starter's handover stop, when it comes before the fuel stop.

    Args:
        expected: laps ahead of the fuel window's expected in-lap.
        drive_s: the starting driver's drive time so far (s), they are in the car.
        minimum_s: the learned minimum (s).
        pace_s: the car's green lap (s).

    Returns:
        Laps ahead (≥ 1) of the lap in which the starter passes the minimum, NaN when that
        is not before ``expected`` or cannot be computed.
    """
    if not (np.isfinite(minimum_s) and np.isfinite(pace_s) and pace_s > 0
            and np.isfinite(expected)):
        return np.nan
    ahead = max(1.0, float(np.ceil((minimum_s - drive_s) / pace_s)))
    return ahead if ahead < expected else np.nan
