"""Laps: lap-time, position and gap charts for chosen cars; clean-lap pace tables."""

from __future__ import annotations

import streamlit as st

from race.present import timeline, views
from race.present.presentation import clock_text
from race.present.weather import (
    race_time_range_h,
    reading_at,
    summary_text,
    units_for,
)
from ui import charts, data, weather_charts
from ui.render_cache import memo_call
from ui.state import selection
from ui.widgets import empty_state, filter_classes, require_race, styled_table

sel = selection()
st.subheader("Laps", anchor=False)
race_id = require_race(sel)
# As of the sidebar's TV delay: the laps crossed by then, the periods begun by then.
history = memo_call(timeline.laps_until, data.lap_history(sel.db_path, race_id, sel.version),
                    sel.as_of_s)
cars = data.table(sel.db_path, race_id, sel.version, "cars")
periods = timeline.periods_until(data.table(sel.db_path, race_id, sel.version, "flag_periods"),
                                 sel.as_of_s)
board, _, _ = data.leaderboard(sel.db_path, race_id, sel.version, sel.as_of_s)
followed = sel.followed

options = views.car_options(cars, sel.classes or None)
if not options:
    empty_state("No car of the selected classes in this race: clear the class filter in the "
                "sidebar.")
    st.stop()
# Default: the top three of the first class shown, plus the focus and followed cars.
leaders = filter_classes(board, sel.classes)["number"].head(3).tolist()
default = list(dict.fromkeys([*([sel.focus] if sel.focus in options else []),
                              *[n for n in followed if n in options], *leaders]))
labels = views.car_labels(cars)
numbers = st.multiselect("Cars", options, default=default, key=f"pw_laps_cars::{race_id}",
                         format_func=lambda n: labels.get(n, n),
                         placeholder="Pick cars to compare")
full_range = st.toggle("Show every lap (pit stops and neutralised laps stretch the axis)",
                       key="pw_laps_full")

trace_tab, times, positions, gaps, weather_tab = st.tabs(
    ["Race trace", "Lap times", "Positions", "Gap to class leader", "Weather"])
weather = data.weather_line(sel.db_path, race_id, sel.version)
units = units_for(data.race_row(sel.db_path, race_id, sel.version).get("series"))
NO_WEATHER = ("No weather data for this race. IMSA weather files (26_Weather…, weather.csv) "
              "beside the lap file are imported with it; a WEC live feed stores its "
              "readings while it is followed.")
with trace_tab:
    classes = [c for c in views.cars_per_class(filter_classes(board, sel.classes))]
    focus_class = board.loc[board["number"] == sel.focus, "class"]
    first = focus_class.iloc[0] if len(focus_class) and focus_class.iloc[0] in classes else None
    cls = st.segmented_control("Class", classes, default=first or (classes[0] if classes
                                                                   else None),
                               key=f"pw_trace_class::{race_id}") if classes else None
    if cls is None and classes:
        cls = first or classes[0]
    if cls is not None:
        in_class = board.loc[board["class"] == cls, "number"].tolist()
        # A slider from 2 to 2 is refused by Streamlit: a class of one or two cars shows all.
        top = st.slider("Cars (class order)", 2, len(in_class), min(6, len(in_class)),
                        key=f"pw_trace_top::{race_id}::{cls}") if len(in_class) > 2 \
            else len(in_class)
        shown = list(dict.fromkeys([*in_class[:top],
                                    *([sel.focus] if sel.focus in in_class else []),
                                    *[n for n in followed if n in in_class]]))
        smooth = st.toggle("Smooth out pit stop cycles (median of 5 laps)", value=True,
                           key="pw_trace_smooth")
        trace = views.race_trace(history, cls, shown, smooth_laps=5 if smooth else 1)
        st.plotly_chart(charts.race_trace_figure(trace.laps, trace.order, focus=sel.focus,
                                                 periods=periods, gap_max_s=trace.gap_max_s,
                                                 followed=followed),
                        key="pw-trace-chart")
        st.caption("The class's leading cars (and the focus car): time behind the class "
                   "leader at each lap. The leader runs along the top; a line falling away "
                   "is a car losing time, a dip and back is a pit stop cycle. Cars more than "
                   "about a lap and a half behind leave the chart at the bottom.")
chosen = history[history["number"].isin(numbers)]
if not numbers:
    with times:
        empty_state("Pick one or more cars above to draw their laps.")
else:
    y_range = None if full_range else views.lap_time_range(chosen)
    x_range = race_time_range_h(chosen["elapsed_s"], chosen["start_s"])
    with times:
        st.plotly_chart(memo_call(charts.lap_time_figure, chosen, periods, numbers,
                                  focus=sel.focus, y_range=y_range, followed=followed,
                                  x_range=x_range),
                        key="pw-lap-chart")
        if weather.empty:
            st.caption("No weather data for this race.")
        else:  # the same race-time axis as the lap chart above
            st.plotly_chart(memo_call(weather_charts.weather_strip_figure, weather, units,
                                      x_range=x_range), key="pw-weather-strip")
        st.caption("Shaded: neutralised periods (yellow FCY, orange safety car, red flag). "
                   "▼ in-lap (pit entry), ★ driver change, | on the top edge: a lap slower "
                   "than the axis (out-laps, slow zones, repairs). The axis is set from the "
                   "clean laps unless 'Show every lap' is on."
                   + ("" if weather.empty else " Under the chart: air and track temperature "
                      "on the same race time (rain shaded blue where the source reports "
                      "it)."))
    with positions:
        in_class = st.toggle("Position in class", value=True, key="pw_laps_in_class")
        st.plotly_chart(memo_call(charts.position_figure, chosen, numbers, focus=sel.focus,
                                  in_class=in_class, periods=periods, followed=followed),
                        key="pw-position-chart")
    with gaps:
        st.plotly_chart(memo_call(charts.gap_figure, chosen, numbers, focus=sel.focus,
                                  periods=periods, followed=followed), key="pw-gap-chart")
        st.caption("Gap at each line crossing to the first car of the class to complete the "
                   "same lap.")

with weather_tab:
    latest = reading_at(weather, units)
    if latest is None:
        empty_state(NO_WEATHER)
    else:
        st.caption(f"Last reading, race time {clock_text(latest.t_s)}")
        # A row that wraps (two or three a line on a phone), not six stacked columns.
        with st.container(horizontal=True, gap="medium"):
            for label, value in (("Air", latest.air), ("Track", latest.track),
                                 ("Humidity", latest.humidity), ("Wind", latest.wind),
                                 ("Wind from", latest.wind_from), ("Rain", latest.rain)):
                st.metric(label, value, width="content", border=True)
        st.plotly_chart(memo_call(weather_charts.weather_figure, weather, units),
                        key="pw-weather-chart")
        st.caption(summary_text(weather, units))

st.markdown("**Clean-lap pace** — clean = not lap 1, not an in/out lap, not neutralised, "
            "not the first lap after a restart.")
laps_shown = filter_classes(history, sel.classes)
per_car, per_driver = st.tabs(["Per car", "Per driver"])
with per_car:
    pace = memo_call(views.pace_by_car, laps_shown, cars)
    styled_table(pace, ["No.", "Class", "Team", "Best clean", "Median clean", "Clean laps",
                        "Laps"], focus=sel.focus, followed=followed,
                 time_columns=("Best clean", "Median clean"), key="pw-pace-car")
with per_driver:
    pace = memo_call(views.pace_by_driver, laps_shown)
    styled_table(pace, ["No.", "Class", "Driver", "Best clean", "Median clean", "Clean laps",
                        "Laps"], focus=sel.focus, followed=followed,
                 time_columns=("Best clean", "Median clean"), key="pw-pace-driver")
