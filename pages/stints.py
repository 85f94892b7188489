"""Stints & pits: stint timeline per car, pit stop table, drive time per driver."""

from __future__ import annotations

import streamlit as st

from race.present import views
from ui import charts, data
from ui.state import selection
from ui.widgets import empty_state, filter_classes, require_race, styled_table

sel = selection()
st.subheader("Stints & pits", anchor=False)
race_id = require_race(sel)
cars = data.table(sel.db_path, race_id, sel.version, "cars")
stints = filter_classes(data.table(sel.db_path, race_id, sel.version, "stints"), sel.classes)
stops = data.table(sel.db_path, race_id, sel.version, "pit_stops")
board, _, _ = data.leaderboard(sel.db_path, race_id, sel.version, None)

order = filter_classes(board, sel.classes)["number"].tolist()
if not order or stints.empty:
    empty_state("No stints for the selected classes: clear the class filter in the sidebar.")
    st.stop()

st.markdown("**Stint timeline** — one bar per stint, coloured by the car's 1st, 2nd, 3rd … "
            "driver; white ticks are pit stops.")
st.plotly_chart(charts.stint_gantt(stints, stops, order, focus=sel.focus), key="pw-gantt")

pits, drivers = st.tabs(["Pit stops", "Drive time"])
with pits:
    rows = filter_classes(views.pit_stop_rows(stops, cars), sel.classes)
    if rows.empty:
        empty_state("No pit stops yet for these cars.")
    else:
        neutral = int(rows["Under"].eq("neutralised").sum())
        st.caption(f"{len(rows)} stops, {neutral} under neutralisation. Pit time = time in "
                   "the pit lane (PIT_TIME); race time = when the car entered the pits.")
        styled_table(rows, ["No.", "Class", "Team", "Stop", "In lap", "Out lap", "Race time",
                            "Pit time", "Driver in", "Driver out", "Driver change", "Under"],
                     focus=sel.focus, time_columns=("Pit time",), clock_columns=("Race time",),
                     height=420, key="pw-pit-table")
with drivers:
    rows = views.drive_time_rows(stints)
    st.caption("Drive time = sum of the driver's laps; a stint here is a continuous run "
               "of one driver (double stints count once).")
    styled_table(rows, ["No.", "Class", "Driver", "Drive time", "Share", "Laps", "Stints",
                        "Longest stint"], focus=sel.focus,
                 clock_columns=("Drive time", "Longest stint"), percent_columns=("Share",),
                 height=420, key="pw-drive-table")
