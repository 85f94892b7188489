"""Plotly figures of the weather (pure functions of ``race.present.weather.timeline``).

The strip sits under the lap chart and shares its race-time axis (hours, the same range);
rain, where the source reports it, is shaded blue.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from race.present.weather import Units, rain_periods
from ui.charts import _base_layout, align_plot_area

AIR_COLOUR = "#80deea"
TRACK_COLOUR = "#ffb74d"
HUMIDITY_COLOUR = "#17becf"
WIND_COLOUR = "#b0b4bc"
RAIN_SHADE = "rgba(78, 159, 255, 0.22)"


def _rain_shapes(line: pd.DataFrame) -> list[dict]:
    return [{"type": "rect", "xref": "x", "yref": "paper", "x0": start / 3600,
             "x1": end / 3600, "y0": 0, "y1": 1, "fillcolor": RAIN_SHADE,
             "line": {"width": 0}, "layer": "below"} for start, end in rain_periods(line)]


def weather_strip_figure(line: pd.DataFrame, units: Units, *,
                         x_range: tuple[float, float] | None = None) -> go.Figure:
    """Air and track temperature against race time (h), rain shaded; ``x_range`` in hours
    (the lap chart's) so the two line up."""
    fig = go.Figure()
    x = line["t_s"] / 3600
    for name, col, colour in (("air", "air", AIR_COLOUR), ("track", "track", TRACK_COLOUR)):
        fig.add_trace(go.Scatter(
            x=x, y=line[col], mode="lines", name=f"{name} ({units.temp})",
            line={"color": colour, "width": 1.6},
            hovertemplate=f"{name} %{{y:.1f}} {units.temp}<extra></extra>"))
    shapes = _rain_shapes(line)
    if shapes:
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name="rain",
                                 marker={"symbol": "square", "size": 12,
                                         "color": RAIN_SHADE}, hoverinfo="skip"))
    _base_layout(fig, height=190, y_title=units.temp)
    fig.update_layout(shapes=shapes, hovermode="x unified",
                      margin={"l": 10, "r": 10, "t": 24, "b": 10})
    if x_range is not None:
        fig.update_xaxes(range=list(x_range))
        align_plot_area(fig)  # under the lap chart: the same plot area
    return fig


def weather_figure(line: pd.DataFrame, units: Units) -> go.Figure:
    """The panel's chart: temperatures (left axis), humidity % and wind speed (right axis)
    against race time, rain shaded."""
    fig = weather_strip_figure(line, units)
    x = line["t_s"] / 3600
    if line["humidity_pct"].notna().any():
        fig.add_trace(go.Scatter(
            x=x, y=line["humidity_pct"], mode="lines", name="humidity (%)", yaxis="y2",
            line={"color": HUMIDITY_COLOUR, "width": 1.2, "dash": "dot"},
            hovertemplate="humidity %{y:.0f} %<extra></extra>"))
    if line["wind_speed"].notna().any():
        fig.add_trace(go.Scatter(
            x=x, y=line["wind_speed"], mode="lines", name=f"wind ({units.speed})",
            yaxis="y2", line={"color": WIND_COLOUR, "width": 1.0},
            hovertemplate=f"wind %{{y:.1f}} {units.speed}<extra></extra>"))
    fig.update_layout(height=340, yaxis2={"title": {"text": f"% · {units.speed}"},
                                          "overlaying": "y", "side": "right",
                                          "showgrid": False, "rangemode": "tozero",
                                          "tickmode": "auto"})
    return fig
