"""Strategy snapshot → the rows and texts the Strategy page shows (no Streamlit here)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from race.strategy.live import StrategySnapshot


def _lap(value: object) -> str:
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) \
        else str(int(value))


def _pct(value: object) -> str:
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) \
        else f"{100 * float(value):.0f} %"


def _secs(value: object) -> str:
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) \
        else f"{float(value):.1f} s"


def cost_range(low: object, high: object) -> str:
    """The 80 % interval of a stop cost as page text: ``62–78 s`` (— when unknown)."""
    try:
        lo, hi = float(low), float(high)
    except (TypeError, ValueError):
        return "—"
    if math.isnan(lo) or math.isnan(hi):
        return "—"
    return f"{lo:.0f}–{hi:.0f} s"


def field_rows(snapshot: StrategySnapshot) -> pd.DataFrame:
    """The field table: one row per car with its window, cost, projection and finish."""
    c = snapshot.cars
    return pd.DataFrame({
        "No.": c["number"], "Class": c["class"], "Pos": c["class_position"],
        "Laps": c["laps"], "Stint laps": c["stint_laps"],
        "Earliest": c["pit_earliest_lap"], "Expected": c["pit_expected_lap"],
        "Latest": c["pit_latest_lap"], "Laps left": c["laps_left"],
        "Stop cost (s)": c["stop_cost_s"].round(1),
        "Cost 80 %": [cost_range(lo, hi) for lo, hi in
                      zip(c["stop_cost_low80_s"], c["stop_cost_high80_s"], strict=True)],
        "Pos after stop": c.get("after_stop_position", pd.Series(np.nan, index=c.index)),
        "Rejoin if in now": c.get("rejoin_position", pd.Series(np.nan, index=c.index)),
        "P(caution stop)": c["p_caution_stop"],
        "Stops to flag": c["stops_needed"], "Last fill": c["last_fill_share"],
        "number": c["number"], "class": c["class"],
    })


def driver_rows(snapshot: StrategySnapshot) -> pd.DataFrame:
    """Drive time per driver with the rule and its status."""
    d = snapshot.drivers
    if d.empty:
        return pd.DataFrame(columns=["No.", "Driver", "Drive time", "Share", "Stints",
                                     "Since last stint", "Minimum", "Still owed", "Status"])
    classes = snapshot.cars.set_index("number")["class"]
    return pd.DataFrame({
        "No.": d["number"], "Class": d["number"].map(classes), "Driver": d["driver_name"],
        "Drive time": d["drive_time_s"], "Share": d["share"], "Stints": d["driver_stints"],
        "Since last stint": np.where(d["driving"], np.nan, d["since_last_s"]),
        "Minimum": d.get("min_drive_s"), "Still owed": d.get("owed_s"),
        "Status": np.where(d["driving"], d.get("status", "") + " · driving",
                           d.get("status", "")),
        "number": d["number"], "class": d["number"].map(classes),
    })


def card(snapshot: StrategySnapshot, number: object) -> dict[str, str]:
    """The focus-car card: short texts for the window, the costs and the projections."""
    rows = snapshot.cars[snapshot.cars["number"] == number]
    if rows.empty:
        return {}
    c = rows.iloc[0]
    out = {
        "Pit window": (f"lap {_lap(c['pit_earliest_lap'])}–{_lap(c['pit_latest_lap'])}, "
                       f"expected {_lap(c['pit_expected_lap'])} "
                       f"({_lap(c['laps_left'])} laps left)"),
        "Stop cost": (f"{_secs(c['stop_cost_s'])} green (80 %: "
                      f"{cost_range(c['stop_cost_low80_s'], c['stop_cost_high80_s'])}), "
                      f"{_secs(c['stop_cost_neutral_s'])} under FCY / safety car"),
        "Caution stop": f"P(pits if a caution comes now) {_pct(c['p_caution_stop'])}",
    }
    if isinstance(c.get("rejoin_position"), float) and not math.isnan(c["rejoin_position"]):
        text = f"P{_lap(c['rejoin_position'])} in class"
        if isinstance(c.get("rejoin_ahead"), str):
            text += (f", {_secs(c['rejoin_gap_ahead_s'])} behind #{c['rejoin_ahead']}")
        if isinstance(c.get("rejoin_behind"), str):
            text += (f", {_secs(c['rejoin_gap_behind_s'])} ahead of #{c['rejoin_behind']} "
                     f"(P(stays ahead) {_pct(c['rejoin_p_ahead_of_behind'])})")
        out["If it stopped now"] = text
    if isinstance(c.get("after_stop_position"), float) and not math.isnan(
            c["after_stop_position"]):
        text = f"P{_lap(c['after_stop_position'])} in class on lap {_lap(c['after_stop_lap'])}"
        if isinstance(c.get("after_stop_ahead"), str):
            text += (f"; P(ahead of #{c['after_stop_ahead']}) "
                     f"{_pct(c['after_stop_p_ahead_of_ahead'])}")
        if isinstance(c.get("after_stop_behind"), str):
            text += (f"; P(ahead of #{c['after_stop_behind']}) "
                     f"{_pct(c['after_stop_p_ahead_of_behind'])}")
        out["After its next stop"] = text
    if not math.isnan(c.get("stops_needed", np.nan)):
        text = f"{_lap(c['stops_needed'])} stop(s) to the flag, ~{_lap(c['laps_to_flag'])} laps"
        if not math.isnan(c.get("last_fill_share", np.nan)):
            text += f"; last stop adds {_pct(c['last_fill_share'])} of a tank"
        out["Finish"] = text
    return out


def final_rows(snapshot: StrategySnapshot, stints: pd.DataFrame,
               stops: pd.DataFrame) -> pd.DataFrame:
    """A finished race: per car its final class position, laps, stints and stops (no window,
    no projection).

    Args:
        snapshot: the engine's view at the flag (positions, laps).
        stints, stops: the race's ``stints`` and ``pit_stops`` tables.
    """
    c = snapshot.cars
    numbers = c["number"].astype(str)
    by_stint = stints.assign(number=stints["number"].astype(str)).groupby("number")
    by_stop = stops.assign(number=stops["number"].astype(str)).groupby("number")
    n_stints = numbers.map(by_stint.size()).fillna(0).astype(int)
    longest = numbers.map(by_stint["laps"].max())
    n_stops = numbers.map(by_stop.size()).fillna(0).astype(int)
    pit_time = numbers.map(by_stop["pit_time_s"].sum()).where(n_stops > 0)
    return pd.DataFrame({
        "No.": c["number"], "Class": c["class"], "Pos": c["class_position"],
        "Laps": c["laps"], "Stints": n_stints.to_numpy(), "Stops": n_stops.to_numpy(),
        "Time in the pits": pit_time.to_numpy(dtype=float),
        "Longest stint (laps)": longest.to_numpy(dtype=float),
        "Last stint (laps)": c["stint_laps"],
        "number": c["number"], "class": c["class"],
    })


def final_driver_rows(snapshot: StrategySnapshot) -> pd.DataFrame:
    """Drive time per driver at the flag: what each drove against the rule (nobody is
    "driving" and nothing is "still owed" after the finish)."""
    rows = driver_rows(snapshot)
    if rows.empty:
        return rows
    status = rows["Status"].astype(str).str.replace(" · driving", "", regex=False)
    return rows.assign(Status=status.replace({"owes": "short of the minimum"}))
