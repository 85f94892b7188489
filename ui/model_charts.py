"""Plotly figures for model outputs: predicted vs actual with the 80 % band, running MAE,
alert markers on a lap chart. Pure functions of DataFrames; no Streamlit calls."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from race.present.presentation import escape, lap_time_text
from ui.charts import car_colours

BAND = "rgba(99, 110, 250, 0.18)"
MODEL = "#636efa"
ACTUAL = "#222222"
EWMA = "#f0a030"
ALERT = "#e5252a"


def _layout(fig: go.Figure, *, height: int, y_title: str) -> go.Figure:
    fig.update_layout(
        height=height, margin={"l": 10, "r": 10, "t": 30, "b": 10},
        paper_bgcolor="rgba(0,0,0,0)", plot_bgcolor="rgba(0,0,0,0)",
        legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0},
        hovermode="x unified", xaxis={"title": {"text": "lap"}},
        yaxis={"title": {"text": y_title}})
    return fig


def prediction_figure(history: pd.DataFrame, number: str,
                      y_range: tuple[float, float] | None = None) -> go.Figure:
    """One car: actual lap times, the prediction made a lap earlier and its 80 % band (none
    for predictions made under a neutralisation: a band of minutes says nothing)."""
    car = history[history["number"] == number].sort_values("lap_number")
    fig = go.Figure()
    laps = car["lap_number"]
    neutral = (car["neutralised"].to_numpy(dtype=bool) if "neutralised" in car
               else np.zeros(len(car), dtype=bool))
    # No band there: it closes onto the prediction (a gap of NaNs would make the filled
    # area jump across the gap).
    point = car["predicted_s"]
    upper = car["upper80_s"].where(~neutral & car["upper80_s"].notna(), point)
    lower = car["lower80_s"].where(~neutral & car["lower80_s"].notna(), point)
    fig.add_trace(go.Scatter(x=laps, y=upper, mode="lines", line={"width": 0},
                             hoverinfo="skip", showlegend=False))
    fig.add_trace(go.Scatter(x=laps, y=lower, mode="lines", line={"width": 0},
                             fill="tonexty", fillcolor=BAND, name="80 % interval",
                             hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=laps, y=car["ewma_s"], mode="lines", name="EWMA baseline",
                             line={"color": EWMA, "width": 1, "dash": "dot"},
                             hovertemplate="EWMA %{y:.3f} s<extra></extra>"))
    fig.add_trace(go.Scatter(x=laps, y=car["predicted_s"], mode="lines", name="predicted",
                             line={"color": MODEL, "width": 2},
                             hovertemplate="predicted %{y:.3f} s<extra></extra>"))
    fig.add_trace(go.Scatter(x=laps, y=car["actual_s"], mode="markers", name="actual",
                             marker={"color": ACTUAL, "size": 5},
                             hovertemplate="actual %{y:.3f} s<extra></extra>"))
    _layout(fig, height=420, y_title=f"#{escape(number)} lap time (s)")
    if y_range is not None:
        fig.update_yaxes(range=list(y_range))
    return fig


def running_mae_figure(running: pd.DataFrame) -> go.Figure:
    """Running mean absolute error on clean laps, model vs EWMA, against race time."""
    fig = go.Figure()
    hours = running["made_at_s"] / 3600
    fig.add_trace(go.Scatter(x=hours, y=running["mae_model"], mode="lines", name="model",
                             line={"color": MODEL, "width": 2}))
    fig.add_trace(go.Scatter(x=hours, y=running["mae_ewma"], mode="lines", name="EWMA",
                             line={"color": EWMA, "width": 2, "dash": "dot"}))
    _layout(fig, height=300, y_title="running MAE (s)")
    fig.update_layout(hovermode="x unified", xaxis={"title": {"text": "race time (h)"}})
    return fig


def add_alert_markers(fig: go.Figure, alerts: pd.DataFrame, laps: pd.DataFrame, *,
                      numbers: Sequence[str] | None = None,
                      y_range: tuple[float, float] | None = None) -> go.Figure:
    """✕ on a lap-time chart (x = race time in h) at each alerted lap of the charted cars.

    Each car's ✕ in that car's line colour with a red outline, so an alert reads as that
    car's; alerts of other cars are left out; laps slower than ``y_range`` sit on its top
    edge (hover gives the real time). One legend entry for all of them.
    """
    if alerts.empty or laps.empty:
        return fig
    if numbers is not None:
        alerts = alerts[alerts["number"].astype(str).isin([str(n) for n in numbers])]
    hit = alerts.merge(laps[["number", "lap_number", "elapsed_s", "lap_time_s"]],
                       on=["number", "lap_number"], suffixes=("_alert", ""))
    if hit.empty:
        return fig
    colours = car_colours(list(numbers)) if numbers is not None else {}
    y = hit["lap_time_s"] if y_range is None else hit["lap_time_s"].clip(upper=y_range[1])
    fig.add_trace(go.Scatter(
        x=hit["elapsed_s"] / 3600, y=y, mode="markers", name="alert ✕",
        marker={"symbol": "x", "size": 12, "line": {"width": 1.5, "color": ALERT},
                "color": [colours.get(str(n), ALERT) for n in hit["number"]]},
        text=[f"#{escape(n)} lap {lap} {escape(k)} · {lap_time_text(t)}<br>{escape(r)}"
              for n, lap, k, t, r in zip(hit["number"], hit["lap_number"], hit["kind"],
                                         hit["lap_time_s"], hit["reason"], strict=True)],
        hoverinfo="text", cliponaxis=False))
    return fig
