"""Plotly figures of the dashboard: periods shaded, slow laps pinned, names escaped."""

from __future__ import annotations

import pandas as pd

from ui import charts


def laps_frame() -> pd.DataFrame:
    rows = []
    for number, name in (("7", "<b>Evil</b> DRIVER"), ("8", "Good DRIVER")):
        for lap in range(1, 7):
            rows.append({"number": number, "class": "HYPERCAR", "lap_number": lap,
                         "driver_number": 1 if lap < 4 else 2,
                         "driver_name": name if lap < 4 else "Second DRIVER",
                         "lap_time_s": 200.0 + lap + (100 if lap == 3 else 0),
                         "elapsed_s": 210.0 * lap, "in_lap": lap == 3,
                         "clean": lap not in (1, 3, 4), "class_position": 1, "position": 1,
                         "class_gap_s": 0.0})
    return pd.DataFrame(rows)


PERIODS = pd.DataFrame({"period_number": [1, 2], "flag": ["FCY", "SF"],
                        "start_s": [300.0, 900.0], "end_s": [400.0, 1000.0],
                        "inferred": [False, False]})


def test_lap_time_figure_shades_periods_and_pins_slow_laps() -> None:
    laps = laps_frame()
    fig = charts.lap_time_figure(laps, PERIODS, ["7", "8"], focus="8", y_range=(195.0, 210.0))
    assert len(fig.layout.shapes) == 2
    assert {s.fillcolor for s in fig.layout.shapes} == {"rgba(255,214,0,0.22)",
                                                       "rgba(255,145,0,0.25)"}
    trace = {t.name: t for t in fig.data}
    in_laps = trace["#7 in-laps"]
    assert max(in_laps.y) == 210.0  # the 303 s in-lap sits on the top edge
    assert "303.000" not in in_laps.text[0] and "5:03.000" in in_laps.text[0]
    focus, other = trace["#8"], trace["#7"]
    assert focus.line.width > other.line.width
    assert fig.data.index(focus) > fig.data.index(other)  # drawn on top
    hover = " ".join(" ".join(t.text or ()) for t in fig.data)
    assert "<b>Evil" not in hover and "&lt;b&gt;Evil" in hover
    assert any("driver change" in " ".join(t.text or ()) for t in fig.data)


def test_position_gap_and_gantt_figures() -> None:
    laps = laps_frame()
    fig = charts.position_figure(laps, ["7", "8"], focus=None, in_class=True, periods=PERIODS)
    assert fig.layout.yaxis.autorange == "reversed"
    assert len(charts.gap_figure(laps, ["7"], focus="7", periods=PERIODS).data) == 1
    stints = pd.DataFrame({
        "number": ["7", "7", "<8>"], "stint_number": [1, 2, 1], "class": ["HYPERCAR"] * 3,
        "driver_number": [1, 2, 1], "driver_name": ["A", "B", "C"], "first_lap": [1, 4, 1],
        "last_lap": [3, 6, 6], "start_s": [0.0, 630.0, 0.0], "end_s": [630.0, 1260.0, 1260.0]})
    stops = pd.DataFrame({"number": ["7"], "stop_number": [1], "pit_in_elapsed_s": [630.0],
                          "pit_time_s": [65.0]})
    gantt = charts.stint_gantt(stints, stops, ["7", "<8>"], focus="7")
    assert [t.name for t in gantt.data] == ["driver 1", "driver 2", "focus car", "pit stop"]
    ticks = " ".join(gantt.layout.yaxis.ticktext)
    assert "&lt;8&gt;" in ticks and "<b>#7</b>" in ticks


def test_slower_laps_break_the_line_and_sit_on_the_edge() -> None:
    laps = laps_frame()
    laps.loc[(laps["number"] == "8") & (laps["lap_number"] == 5), "lap_time_s"] = 260.0
    fig = charts.lap_time_figure(laps, PERIODS, ["7", "8"], focus=None, y_range=(195.0, 210.0))
    trace = {t.name: t for t in fig.data}
    line = trace["#8"]
    assert line.y[4] is None or pd.isna(line.y[4])  # no spike to the edge
    marks = trace["#8 slower laps"]
    assert list(marks.y) == [210.0] and "4:20.000" in marks.text[0]
    assert "slower lap (at the top edge)" in trace  # one legend entry for every car
    assert not trace["#8 slower laps"].showlegend


def test_race_trace_and_alert_markers_of_the_charted_cars_only() -> None:
    from ui import model_charts

    laps = laps_frame()
    fig = charts.race_trace_figure(laps.assign(trace_s=laps["class_gap_s"]), ["8", "7"],
                                   focus="7", periods=PERIODS, gap_max_s=50.0)
    names = [t.name for t in fig.data]
    assert names[:2] == ["#8", "#7"]  # focus car drawn last, on top
    assert list(fig.layout.yaxis.range) == [51.0, -1.0]  # leader at the top
    alerts = pd.DataFrame({"number": ["7", "8"], "lap_number": [3, 2], "kind": ["slow lap"] * 2,
                           "reason": ["x", "y"], "elapsed_s": [630.0, 420.0]})
    lap_fig = charts.lap_time_figure(laps, PERIODS, ["7"], focus=None, y_range=(195.0, 210.0))
    model_charts.add_alert_markers(lap_fig, alerts, laps, numbers=["7"], y_range=(195.0, 210.0))
    alert = [t for t in lap_fig.data if t.name == "alert ✕"]
    assert len(alert) == 1 and len(alert[0].x) == 1  # #8's alert left out
    assert list(alert[0].y) == [210.0]  # the 303 s lap on the edge
