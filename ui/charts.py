"""Plotly figures of the dashboard (pure functions of DataFrames; no Streamlit calls).

Race time is on the x axis in hours so flag periods can be shaded; colours come from
``race.present.presentation`` (cars, drivers, flags) and the focus car is drawn thicker, on top;
followed (starred) cars are drawn less thick than the focus car, named "★ #7".
Plotly renders labels and hover text as HTML: names and numbers from files are escaped.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pandas as pd
import plotly.graph_objects as go

from race.present.presentation import (
    CAR_PALETTE,
    class_colour,
    driver_colour,
    escape,
    flag_style,
    lap_time_text,
)

FLAG_NAMES = {"FCY": "Full course yellow", "SF": "Safety car", "RF": "Red flag"}


def car_colours(numbers: Sequence[str]) -> dict[str, str]:
    """A distinct colour per selected car, stable for the order given."""
    return {n: CAR_PALETTE[i % len(CAR_PALETTE)] for i, n in enumerate(numbers)}


FOCUS_WIDTH, FOLLOWED_WIDTH = 3.5, 2.5


def _cars_focus_last(frame: pd.DataFrame, numbers: Sequence[str], focus: str | None,
                     followed: Sequence[str] = ()) -> Iterator[tuple[str, pd.DataFrame]]:
    """Each selected car's rows: the followed cars after the others, the focus car last, so
    their traces are drawn on top."""
    starred = [n for n in numbers if n in followed and n != focus]
    ordered = ([n for n in numbers if n != focus and n not in starred] + starred
               + ([focus] if focus in numbers else []))
    for number in ordered:
        car = frame[frame["number"] == number]
        if not car.empty:
            yield number, car


def _width(number: str, focus: str | None, followed: Sequence[str], other: float) -> float:
    return FOCUS_WIDTH if number == focus else FOLLOWED_WIDTH if number in followed else other


def _name(number: str, followed: Sequence[str]) -> str:
    """Legend name: ``#7``, ``★ #7`` for a followed car (escaped)."""
    return f"★ #{escape(number)}" if number in followed else f"#{escape(number)}"


def _base_layout(fig: go.Figure, *, height: int, y_title: str) -> go.Figure:
    fig.update_layout(
        height=height, margin={"l": 10, "r": 10, "t": 30, "b": 10},
        paper_bgcolor="rgba(0,0,0,0)", plot_bgcolor="rgba(0,0,0,0)",
        legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0},
        hovermode="closest",
        xaxis={"title": {"text": "race time (h)"}, "zeroline": False},
        yaxis={"title": {"text": y_title}, "zeroline": False},
    )
    return fig


def _period_shapes(periods: pd.DataFrame) -> tuple[list[dict], list[go.Scatter]]:
    """Translucent rectangles for neutralised periods plus one legend entry per flag type."""
    shapes: list[dict] = []
    seen: dict[str, str] = {}
    for flag, start, end in zip(periods["flag"], periods["start_s"], periods["end_s"],
                                strict=True):
        style = flag_style(flag)
        shapes.append({"type": "rect", "xref": "x", "yref": "paper", "x0": start / 3600,
                       "x1": end / 3600, "y0": 0, "y1": 1, "fillcolor": style.shade,
                       "line": {"width": 0}, "layer": "below"})
        seen.setdefault(str(flag), style.background)
    legend = [go.Scatter(x=[None], y=[None], mode="markers", name=FLAG_NAMES.get(f, f),
                         marker={"symbol": "square", "size": 12, "color": colour,
                                 "opacity": 0.5}, hoverinfo="skip")
              for f, colour in seen.items()]
    return shapes, legend


def lap_time_figure(laps: pd.DataFrame, periods: pd.DataFrame, numbers: Sequence[str], *,
                    focus: str | None, y_range: tuple[float, float] | None,
                    followed: Sequence[str] = (),
                    x_range: tuple[float, float] | None = None) -> go.Figure:
    """Lap time against race time for ``numbers``: in-laps ▼, driver changes ★, periods shaded.

    Args:
        laps: laps of the selected cars (``race.present.views.LAP_CHART_COLUMNS``).
        periods: the race's flag periods.
        y_range: (low, high) in seconds, or None to show every lap.
        x_range: (start, end) race time in hours, or None to fit the laps (the weather
            strip under the chart is given the same range).
    """
    fig = go.Figure()
    colours = car_colours(numbers)

    def on_chart(times: pd.Series) -> pd.Series:
        # In-laps and driver-change laps are slow: pin their markers to the top edge so
        # they stay visible when the axis ignores slow laps (hover gives the real time).
        return times if y_range is None else times.clip(upper=y_range[1])

    slow_shown = False
    for number, car in _cars_focus_last(laps, numbers, focus, followed):
        colour, is_focus = colours[number], number == focus
        text = [f"#{escape(number)} lap {lap} · {lap_time_text(t)} · {escape(d)}" for lap, t, d in
                zip(car["lap_number"], car["lap_time_s"], car["driver_name"], strict=True)]
        # Laps slower than the axis break the line (no spike to the edge): they are marks
        # on the top edge instead, with their real time on hover.
        slow = (car["lap_time_s"] > y_range[1]) if y_range is not None else \
            pd.Series(False, index=car.index)
        fig.add_trace(go.Scatter(
            x=car["elapsed_s"] / 3600, y=car["lap_time_s"].where(~slow),
            mode="lines+markers",
            name=_name(number, followed), legendgroup=number, text=text, hoverinfo="text",
            line={"color": colour, "width": _width(number, focus, followed, 1.4)},
            marker={"size": 4 if is_focus else 3}, opacity=1.0 if is_focus else 0.85))
        in_lap = car["in_lap"].fillna(False).astype(bool)
        same = car["driver_number"].ne(car["driver_number"].shift()) & car["lap_number"].gt(
            car["lap_number"].min())
        # Under a neutralisation (shaded) every lap is slow: no mark needed.
        neutral = (car["neutralised"].fillna(False).astype(bool) if "neutralised" in car
                   else pd.Series(False, index=car.index))
        marks = car[slow & ~in_lap & ~same & ~neutral]
        if len(marks):
            fig.add_trace(go.Scatter(
                x=marks["elapsed_s"] / 3600, y=on_chart(marks["lap_time_s"]), mode="markers",
                name=f"#{escape(number)} slower laps", legendgroup=number, showlegend=False,
                marker={"symbol": "line-ns-open", "size": 9, "color": colour,
                        "line": {"width": 2, "color": colour}}, cliponaxis=False,
                text=[f"#{escape(number)} lap {lap} · {lap_time_text(t)} (slower than the axis)"
                      for lap, t in zip(marks["lap_number"], marks["lap_time_s"], strict=True)],
                hoverinfo="text"))
            slow_shown = True
        pit = car[in_lap]
        if len(pit):
            fig.add_trace(go.Scatter(
                x=pit["elapsed_s"] / 3600, y=on_chart(pit["lap_time_s"]), mode="markers",
                name=f"#{escape(number)} in-laps", legendgroup=number, showlegend=False,
                marker={"symbol": "triangle-down", "size": 10, "color": colour,
                        "line": {"width": 1, "color": "#ffffff"}}, cliponaxis=False,
                text=[f"#{escape(number)} in-lap {lap} · {lap_time_text(t)}" for lap, t in
                      zip(pit["lap_number"], pit["lap_time_s"], strict=True)],
                hoverinfo="text"))
        change = car[same]
        if len(change):
            fig.add_trace(go.Scatter(
                x=change["elapsed_s"] / 3600, y=on_chart(change["lap_time_s"]),
                mode="markers", name=f"#{escape(number)} driver changes", legendgroup=number,
                showlegend=False, cliponaxis=False,
                marker={"symbol": "star", "size": 13, "color": colour,
                        "line": {"width": 1, "color": "#ffffff"}},
                text=[f"#{escape(number)} lap {lap}: driver change → {escape(d)}" for lap, d in
                      zip(change["lap_number"], change["driver_name"], strict=True)],
                hoverinfo="text"))
    shapes, legend = _period_shapes(periods)
    if slow_shown:
        legend.append(go.Scatter(x=[None], y=[None], mode="markers",
                                 name="slower lap (at the top edge)", hoverinfo="skip",
                                 marker={"symbol": "line-ns-open", "size": 9,
                                         "color": "#b0b4bc", "line": {"width": 2}}))
    for trace in legend:
        fig.add_trace(trace)
    _base_layout(fig, height=460, y_title="lap time (s)")
    fig.update_layout(shapes=shapes)
    if y_range is not None:
        fig.update_yaxes(range=list(y_range))
    if x_range is not None:
        fig.update_xaxes(range=list(x_range))
        align_plot_area(fig)
    return fig


# Left margin (px) of charts stacked on one race-time axis: a fixed margin (not one fitted
# to each chart's tick labels) puts their plot areas, and so their x axes, one above the other.
STACKED_LEFT_PX = 72


def align_plot_area(fig: go.Figure) -> None:
    """Give ``fig`` the fixed left margin of the charts stacked on the race-time axis."""
    fig.update_layout(margin={"l": STACKED_LEFT_PX, "r": 10})
    fig.update_yaxes(automargin=False)


def position_figure(history: pd.DataFrame, numbers: Sequence[str], *, focus: str | None,
                    in_class: bool, periods: pd.DataFrame,
                    followed: Sequence[str] = ()) -> go.Figure:
    """Position (overall or in class) at each line crossing, P1 at the top."""
    fig = go.Figure()
    colours = car_colours(numbers)
    column = "class_position" if in_class else "position"
    for number, car in _cars_focus_last(history, numbers, focus, followed):
        fig.add_trace(go.Scatter(
            x=car["elapsed_s"] / 3600, y=car[column], mode="lines", name=_name(number, followed),
            line={"color": colours[number], "width": _width(number, focus, followed, 1.6),
                  "shape": "hv"},
            text=[f"#{escape(number)} lap {lap}: P{p}" for lap, p in
                  zip(car["lap_number"], car[column], strict=True)], hoverinfo="text"))
    shapes, _ = _period_shapes(periods)
    _base_layout(fig, height=380, y_title="class position" if in_class else "position")
    fig.update_layout(shapes=shapes)
    fig.update_yaxes(autorange="reversed", dtick=1 if in_class else None)
    return fig


def gap_figure(history: pd.DataFrame, numbers: Sequence[str], *, focus: str | None,
               periods: pd.DataFrame, followed: Sequence[str] = ()) -> go.Figure:
    """Gap (s) to the first car of the class at each lap's line crossing."""
    fig = go.Figure()
    colours = car_colours(numbers)
    for number, car in _cars_focus_last(history, numbers, focus, followed):
        fig.add_trace(go.Scatter(
            x=car["elapsed_s"] / 3600, y=car["class_gap_s"], mode="lines",
            name=_name(number, followed),
            line={"color": colours[number], "width": _width(number, focus, followed, 1.6)},
            text=[f"#{escape(number)} lap {lap}: +{lap_time_text(g)}" for lap, g in
                  zip(car["lap_number"], car["class_gap_s"], strict=True)],
            hoverinfo="text"))
    shapes, _ = _period_shapes(periods)
    _base_layout(fig, height=380, y_title="gap to class leader (s)")
    fig.update_layout(shapes=shapes)
    return fig


def stint_gantt(stints: pd.DataFrame, stops: pd.DataFrame, order: Sequence[str], *,
                focus: str | None, followed: Sequence[str] = ()) -> go.Figure:
    """One row per car, one bar per stint coloured by driver (1st, 2nd … of the car).

    Args:
        stints: the race's stints (``race.schema.STINTS``) for the cars in ``order``.
        stops: pit stops, drawn as ticks between stints.
        order: car numbers top to bottom.
    """
    fig = go.Figure()
    labels = {n: f"#{n}" for n in order}  # category values; shown via escaped ticktext
    starred = {n: f"{'★ ' if n in followed else ''}" for n in order}
    stints = stints[stints["number"].isin(order)]
    for driver_number, group in stints.groupby("driver_number", sort=True):
        duration = (group["end_s"] - group["start_s"]) / 3600
        hover = [f"#{escape(n)} stint {s}: {escape(d)} · laps {a}–{b} · {lap_time_text(e - st)}"
                 for n, s, d, a, b, st, e in zip(
                     group["number"], group["stint_number"], group["driver_name"],
                     group["first_lap"], group["last_lap"], group["start_s"], group["end_s"],
                     strict=True)]
        fig.add_trace(go.Bar(
            y=group["number"].map(labels), x=duration, base=group["start_s"] / 3600,
            orientation="h", name=f"driver {int(driver_number)}",
            marker={"color": driver_colour(driver_number),
                    "line": {"width": 0.5, "color": "#0e1117"}},
            text=hover, hoverinfo="text", textposition="none"))
    mine = stints[stints["number"] == focus]
    if len(mine):
        # The focus car outlined by one extra trace: per-bar outline colours are slow
        # to validate in Plotly (~100 ms on a 24 h race).
        fig.add_trace(go.Bar(
            y=mine["number"].map(labels), x=(mine["end_s"] - mine["start_s"]) / 3600,
            base=mine["start_s"] / 3600, orientation="h", name="focus car", hoverinfo="skip",
            marker={"color": "rgba(0,0,0,0)", "line": {"width": 2.5, "color": "#ffd600"}},
            showlegend=False))
    stops = stops[stops["number"].isin(order)]
    if len(stops):
        fig.add_trace(go.Scatter(
            x=stops["pit_in_elapsed_s"] / 3600, y=stops["number"].map(labels), mode="markers",
            name="pit stop", marker={"symbol": "line-ns-open", "size": 14,
                                     "color": "#ffffff", "line": {"width": 2}},
            text=[f"#{escape(n)} stop {k}: {lap_time_text(p)}" for n, k, p in zip(
                stops["number"], stops["stop_number"], stops["pit_time_s"], strict=True)],
            hoverinfo="text"))
    _base_layout(fig, height=max(260, 24 * len(order) + 90), y_title="")
    fig.update_layout(barmode="overlay", bargap=0.25)
    car_class = stints.drop_duplicates("number").set_index("number")["class"]
    ticks = [labels[n] for n in order][::-1]
    text = [f'<span style="color:{class_colour(car_class.get(n))}">'
            f'{"<b>" if n == focus or n in followed else ""}{starred[n]}{escape(labels[n])}'
            f'{"</b>" if n == focus or n in followed else ""}'
            "</span>" for n in order][::-1]
    fig.update_yaxes(categoryorder="array", categoryarray=ticks, autorange=True,
                     type="category", tickmode="array", tickvals=ticks, ticktext=text)
    return fig


def race_trace_figure(trace_laps: pd.DataFrame, order: Sequence[str], *, focus: str | None,
                      periods: pd.DataFrame, gap_max_s: float | None,
                      followed: Sequence[str] = ()) -> go.Figure:
    """Race trace of one class: gap (s) behind the class leader at each lap, leader on top.

    Args:
        trace_laps: ``race.present.views.race_trace(...).laps``.
        order: car numbers in class order (legend order; first = leader).
        gap_max_s: bottom of the axis (cars further back run off the edge).
    """
    fig = go.Figure()
    colours = car_colours(order)
    for number, car in _cars_focus_last(trace_laps, order, focus, followed):
        fig.add_trace(go.Scatter(
            x=car["elapsed_s"] / 3600, y=car["trace_s"], mode="lines",
            name=_name(number, followed), legendrank=order.index(number) + 1,
            line={"color": colours[number], "width": _width(number, focus, followed, 1.5)},
            text=[f"#{escape(number)} lap {lap}: P{p} in class, "
                  f"{'leader' if g == 0 else '+' + lap_time_text(g)}" for lap, p, g in
                  zip(car["lap_number"], car["class_position"], car["class_gap_s"],
                      strict=True)],
            hoverinfo="text"))
    shapes, legend = _period_shapes(periods)
    for item in legend:
        fig.add_trace(item)
    _base_layout(fig, height=480, y_title="behind the class leader (s)")
    fig.update_layout(shapes=shapes, legend={"orientation": "v", "x": 1.01, "y": 1,
                                             "yanchor": "top"})
    if gap_max_s:
        fig.update_yaxes(range=[gap_max_s * 1.02, -gap_max_s * 0.02])
    else:
        fig.update_yaxes(autorange="reversed")
    return fig
