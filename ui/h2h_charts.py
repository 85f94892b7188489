"""Plotly figures of the Head-to-head page (pure functions of frames; no Streamlit calls).

Car A is drawn in the first car colour, car B in the second (``ui.charts.car_colours``), the
same on both charts and in the headings of the page. Race time is in hours, flag periods
shaded as on the Laps page. Labels are escaped (car numbers come from files).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from race.present.presentation import escape, lap_time_text
from ui.charts import _base_layout, _period_shapes, car_colours

PIT_GREY = "#8a8f98"
NEUTRAL_GREY = "rgba(255, 214, 0, 0.45)"


def pair_colours(a: str, b: str) -> tuple[str, str]:
    colours = car_colours([a, b])
    return colours[a], colours[b]


def gap_figure(gap: pd.DataFrame, a: str, b: str, *, periods: pd.DataFrame) -> go.Figure:
    """Gap between the two cars against race time: seconds (left axis) while on the same
    lap, whole laps (right axis) once a lap or more apart; up = A ahead."""
    colour_a, colour_b = pair_colours(a, b)
    fig = go.Figure()
    x = gap["t_s"].to_numpy(dtype=float) / 3600
    apart = gap["laps_apart"].to_numpy()
    same = apart == 0
    hover = [f"lap {lap}: {escape(t)}" for lap, t in zip(gap["lap_number"], gap["text"],
                                                           strict=True)]
    fig.add_trace(go.Scatter(
        x=x, y=np.where(same, gap["gap_s"].to_numpy(dtype=float), np.nan), mode="lines",
        name="gap (s, same lap)", line={"color": "#e6e6e6", "width": 2}, text=hover,
        hoverinfo="text", connectgaps=False))
    if (~same).any():
        fig.add_trace(go.Scatter(
            x=x, y=np.where(same, np.nan, apart).astype(float), mode="lines", yaxis="y2",
            name="laps apart", line={"color": "#4e9fff", "width": 2, "shape": "hv",
                                     "dash": "dot"},
            text=hover, hoverinfo="text", connectgaps=False))
    shapes, legend = _period_shapes(periods)
    for trace in legend:
        fig.add_trace(trace)
    _base_layout(fig, height=360, y_title="gap (s)")
    fig.update_layout(
        shapes=[*shapes, {"type": "line", "xref": "paper", "yref": "y", "x0": 0, "x1": 1,
                          "y0": 0, "y1": 0, "line": {"color": "#5c6370", "width": 1}}],
        annotations=[
            {"xref": "paper", "yref": "paper", "x": 0.005, "y": 0.99, "showarrow": False,
             "xanchor": "left", "yanchor": "top", "text": f"▲ #{escape(a)} ahead",
             "font": {"color": colour_a}},
            {"xref": "paper", "yref": "paper", "x": 0.005, "y": 0.01, "showarrow": False,
             "xanchor": "left", "yanchor": "bottom", "text": f"▼ #{escape(b)} ahead",
             "font": {"color": colour_b}}],
        hovermode="x unified")
    if (~same).any():
        top = max(1, int(np.abs(apart).max()))
        fig.update_layout(yaxis2={"title": {"text": "laps apart"}, "overlaying": "y",
                                  "side": "right", "range": [-top - 0.5, top + 0.5],
                                  "dtick": max(1, top // 4),
                                  "zeroline": False, "showgrid": False})
    gaps = gap.loc[same, "gap_s"].abs()
    if len(gaps):  # symmetric: zero (level) in the middle
        span = max(1.0, float(gaps.max()) * 1.08)
        fig.update_layout(yaxis={"range": [-span, span]})
    return fig


def delta_figure(deltas: pd.DataFrame, a: str, b: str) -> go.Figure:
    """Lap-by-lap delta (B's lap − A's lap; up = A faster) as bars: green laps in the
    faster car's colour, pit laps grey, neutralised laps greyed yellow. The axis is set by
    the green laps; pit laps run off its edges (hover gives the real delta)."""
    colour_a, colour_b = pair_colours(a, b)
    fig = go.Figure()
    kind = deltas["kind"].to_numpy()
    delta = deltas["delta_s"].to_numpy(dtype=float)
    groups = (
        (f"#{escape(a)} faster", (kind == "green") & (delta >= 0), colour_a),
        (f"#{escape(b)} faster", (kind == "green") & (delta < 0), colour_b),
        ("neutralised lap", kind == "neutralised", NEUTRAL_GREY),
        ("pit lap (either car)", kind == "pit", PIT_GREY),
    )
    for name, mask, colour in groups:
        rows = deltas[mask]
        if rows.empty:
            continue
        fig.add_trace(go.Bar(
            x=rows["lap_number"], y=rows["delta_s"], name=name, marker={"color": colour},
            text=[f"lap {lap}: #{escape(a)} {lap_time_text(la)} · #{escape(b)} "
                  f"{lap_time_text(lb)} · {d:+.3f} s" for lap, la, lb, d in zip(
                      rows["lap_number"], rows["a_lap_s"], rows["b_lap_s"], rows["delta_s"],
                      strict=True)],
            hoverinfo="text", textposition="none"))
    _base_layout(fig, height=320, y_title=f"#{escape(b)} lap − #{escape(a)} lap (s)")
    fig.update_layout(barmode="overlay", bargap=0.1,
                      xaxis={"title": {"text": "lap"}})
    green = np.abs(delta[kind == "green"])
    if len(green):
        span = max(1.0, float(np.quantile(green, 0.9)) * 1.5)  # traffic and slow zones: off
        fig.update_yaxes(range=[-span, span])
    return fig
