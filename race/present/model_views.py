"""Pure shaping of stored model outputs (predictions, alerts) for pages and the CLI.

Inputs are the frames ``RaceStore.predictions`` / ``RaceStore.alerts`` return; nothing here
reads the database or fits anything.
"""

from __future__ import annotations

from collections.abc import Set as AbstractSet
from dataclasses import dataclass

import numpy as np
import pandas as pd

from race.present.presentation import number_sort_keys

FRESH_ALERT_S = 600.0  # an alert is "fresh" on the leaderboard for 10 minutes of race time


@dataclass(frozen=True)
class PredictionOverview:
    """What the Predictions page shows for one race."""

    next_laps: pd.DataFrame   # one row per car: its pending next-lap prediction
    history: pd.DataFrame     # every prediction with its outcome (actual_s NaN = pending)
    running: pd.DataFrame     # running MAE on S_clean: made_at_s, n, mae_model, mae_ewma
    by_class: pd.DataFrame    # class, n, mae_model, mae_ewma, skill, coverage
    model: str                # "trees …" or "ewma-baseline"; "" when nothing is stored
    finish_s: float | None = None  # the chequered flag's race time, when the race is over


def neutralised_at(made_at_s: pd.Series, periods: pd.DataFrame | None) -> np.ndarray:
    """True where a prediction was made during a neutralisation period (its ends included:
    an open period ends at the latest crossing)."""
    out = np.zeros(len(made_at_s), dtype=bool)
    if periods is None or periods.empty:
        return out
    t = made_at_s.to_numpy(dtype=float)
    for start, end in zip(periods["start_s"].to_numpy(dtype=float),
                          periods["end_s"].to_numpy(dtype=float), strict=True):
        out |= (t >= start) & (t <= end)
    return out


def predictions_as_of(predictions: pd.DataFrame, as_of_s: float | None) -> pd.DataFrame:
    """The predictions as known at race time ``as_of_s`` (None: all): those made by then,
    with the actual lap time only of laps completed by then (made at the end of the previous
    lap: the lap ends at ``made_at_s + actual_s``)."""
    if as_of_s is None or predictions.empty:
        return predictions
    made = predictions[predictions["made_at_s"] <= as_of_s]
    later = (made["made_at_s"] + made["actual_s"]) > as_of_s
    if not later.any():
        return made
    return made.assign(actual_s=made["actual_s"].mask(later))


def prediction_overview(predictions: pd.DataFrame, periods: pd.DataFrame | None = None,
                        finish_s: float | None = None) -> PredictionOverview:
    """Next lap per car, history, running MAE (model vs EWMA) and per-class accuracy.

    Args:
        predictions: ``RaceStore.predictions`` rows.
        periods: the race's neutralisation periods: predictions made inside one get
            ``neutralised`` True (the page says so instead of drawing its band).
        finish_s: the chequered flag's race time: nothing made at or after it is kept
            (those laps are never driven) and there is no pending next lap.
    """
    p = predictions.sort_values(["number", "lap_number"], kind="stable")
    if finish_s is not None and len(p):
        p = p[p["made_at_s"] < finish_s]
    if p.empty:
        empty = pd.DataFrame()
        return PredictionOverview(empty, p, empty, empty, "", finish_s)
    p = p.assign(neutralised=neutralised_at(p["made_at_s"], periods))
    last = p.groupby("number", sort=False).tail(1)
    next_laps = last[last["actual_s"].isna()] if finish_s is None else last.iloc[:0]
    # Car numbers are text: order them as numbers (2, 10, 155), not as text (10, 155, 2).
    next_laps = next_laps.iloc[np.argsort(number_sort_keys(next_laps["number"]), kind="stable")]
    done = p[p["s_clean"].fillna(False).astype(bool) & p["actual_s"].notna()]
    done = done.sort_values("made_at_s", kind="stable")
    err_m = (done["actual_s"] - done["predicted_s"]).abs()
    err_e = (done["actual_s"] - done["ewma_s"]).abs()
    n = np.arange(1, len(done) + 1)
    running = pd.DataFrame({"made_at_s": done["made_at_s"].to_numpy(), "n": n,
                            "mae_model": err_m.cumsum().to_numpy() / n,
                            "mae_ewma": err_e.cumsum().to_numpy() / n})
    covered = (done["actual_s"] >= done["lower80_s"]) & (done["actual_s"] <= done["upper80_s"])
    by_class = (pd.DataFrame({"class": done["class"], "err_m": err_m, "err_e": err_e,
                              "covered": covered})
                .groupby("class").agg(n=("err_m", "size"), mae_model=("err_m", "mean"),
                                      mae_ewma=("err_e", "mean"),
                                      coverage=("covered", "mean")).reset_index())
    by_class["skill"] = 1.0 - by_class["mae_model"] / by_class["mae_ewma"]
    model = str(p["model"].dropna().iloc[-1]) if "model" in p and p["model"].notna().any() else ""
    return PredictionOverview(next_laps.reset_index(drop=True), p, running, by_class, model,
                              finish_s)


def fresh_alert_numbers(alerts: pd.DataFrame, at_s: float,
                        window_s: float = FRESH_ALERT_S) -> set[str]:
    """Cars with an incident or slow-stop alert in the last ``window_s`` before ``at_s``."""
    if alerts.empty:
        return set()
    recent = alerts[(alerts["elapsed_s"] <= at_s) & (alerts["elapsed_s"] > at_s - window_s)
                    & (alerts["kind"] != "neutralised")]
    return set(recent["number"].astype(str))


def mark_alerts(board: pd.DataFrame, numbers: AbstractSet[str],
                column: str = "No.") -> pd.DataFrame:
    """Prefix the car number with "!" for cars with a fresh alert (display only)."""
    if not numbers or board.empty or column not in board:
        return board
    flagged = board["number"].astype(str).isin(numbers)
    return board.assign(**{column: np.where(flagged, "! " + board[column].astype(str),
                                            board[column])})
