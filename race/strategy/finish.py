"""Finish projection: laps to the flag, stops still needed and the last stop's splash.

A timed race ends when the class leader crosses the line after the scheduled end; every car
then finishes its lap. Laps still to come ≈ (time left − stop time still to lose) / pace.
Stops still needed = the full tanks missing after the fuel in the car; the last stop adds
only what reaches the flag (a splash when small), which also shortens its PIT_TIME.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from race.strategy.stop_cost import splash_factor


def stops_to_flag(laps_to_flag: np.ndarray, fuel_laps: np.ndarray,
                  tank_laps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Stops still needed and the laps of fuel the last one must add.

    Args:
        laps_to_flag: laps the car still completes before the flag.
        fuel_laps: green laps left in the tank (expected in-lap − laps completed).
        tank_laps: green laps of a full tank.

    Returns:
        (stops needed ≥ 0, laps of fuel added at the last stop; NaN when no stop is needed)
    """
    short = laps_to_flag - fuel_laps
    with np.errstate(invalid="ignore", divide="ignore"):
        stops = np.where(short > 0, np.ceil(short / tank_laps), 0.0)
        last_fill = np.where(stops > 0, short - (stops - 1) * tank_laps, np.nan)
    return stops, last_fill


def finish_projection(cars: pd.DataFrame, *, end_s: float | None, series: str) -> pd.DataFrame:
    """Per car: projected laps at the flag, stops still needed, last-stop splash.

    Args:
        cars: one row per car with ``number, class, laps, last_s, pace_s, pit_expected_lap,
            full_tank_laps, stop_cost_s, running`` and optionally ``recent_lap_s`` (average
            lap of the last part of the race, stops and cautions included).
        end_s: scheduled end (s); None → an empty projection.
        series: ``WEC``/``IMSA`` (splash PIT_TIME factors differ).

    Returns:
        ``cars`` columns ``number, class`` plus ``laps_to_flag, stops_needed,
        last_fill_laps, last_fill_share, last_stop_pit_factor, projected_laps,
        class_leader_laps`` (the laps the class leader will complete).
    """
    out = cars[["number", "class"]].copy()
    if end_s is None or cars.empty:
        for col in ("laps_to_flag", "stops_needed", "last_fill_laps", "last_fill_share",
                    "last_stop_pit_factor", "projected_laps", "class_leader_laps"):
            out[col] = np.nan
        return out
    pace = cars["pace_s"].to_numpy(dtype=float)
    left = np.maximum(end_s - cars["last_s"].to_numpy(dtype=float), 0.0)
    tank = cars["full_tank_laps"].to_numpy(dtype=float)
    fuel = np.maximum(cars["pit_expected_lap"].to_numpy(dtype=float)
                      - cars["laps"].to_numpy(dtype=float), 0.0)
    cost = np.nan_to_num(cars["stop_cost_s"].to_numpy(dtype=float), nan=0.0)
    recent = (cars["recent_lap_s"].to_numpy(dtype=float) if "recent_lap_s" in cars
              else np.full(len(cars), np.nan))
    with np.errstate(invalid="ignore", divide="ignore"):
        # fuel: laps at green pace; stops needed for them
        stops, fill = stops_to_flag(np.ceil(left / pace), fuel, tank)
        stops, fill = stops_to_flag(np.ceil(np.maximum(left - stops * cost, 0.0) / pace),
                                    fuel, tank)
        # laps to the flag: the recent average lap (stops and cautions included) when known;
        # green pace plus the stops' cost otherwise
        green = np.ceil(np.maximum(left - stops * cost, 0.0) / pace)
        to_flag = np.where(np.isfinite(recent), np.ceil(left / recent), green)
    running = cars["running"].to_numpy(dtype=bool)
    to_flag = np.where(running, to_flag, 0.0)
    stops = np.where(running, stops, 0.0)
    out["laps_to_flag"] = to_flag
    out["stops_needed"] = stops
    out["last_fill_laps"] = np.where(running, fill, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        out["last_fill_share"] = out["last_fill_laps"] / tank
    out["last_stop_pit_factor"] = [splash_factor(series, f) if np.isfinite(f) else np.nan
                                   for f in out["last_fill_share"]]
    out["projected_laps"] = cars["laps"].to_numpy(dtype=float) + to_flag
    out["class_leader_laps"] = out.groupby("class")["projected_laps"].transform("max")
    return out
