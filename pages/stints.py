"""Stints & pits: stint timeline per car, pit stop table, drive time per driver."""

from __future__ import annotations

import streamlit as st

from ui import data
from ui.state import selection
from ui.widgets import empty_state, require_race, styled_table

sel = selection()
st.subheader("Stints & pits", anchor=False)
race_id = require_race(sel)
# Shaped once per data version, classes, focus and followed cars and moment shown (the
# sidebar's TV delay): a rerun reshapes nothing.
order, gantt, pit_rows, drive_rows, any_stint = data.stints_page(
    sel.db_path, race_id, sel.version, sel.classes, sel.focus, sel.followed, sel.as_of_s)
if not any_stint:
    empty_state("No stints for the selected classes: clear the class filter in the sidebar.")
    st.stop()

st.markdown("**Stint timeline** — one bar per stint, coloured by the car's 1st, 2nd, 3rd … "
            "driver; white ticks are pit stops.")
st.plotly_chart(gantt, key="pw-gantt")

pits, drivers = st.tabs(["Pit stops", "Drive time"])
with pits:
    rows = pit_rows
    if rows.empty:
        empty_state("No pit stops yet for these cars.")
    else:
        neutral = int(rows["Under"].eq("neutralised").sum())
        st.caption(f"{len(rows)} stops, {neutral} under neutralisation. Pit time = time in "
                   "the pit lane (PIT_TIME); race time = when the car entered the pits.")
        styled_table(rows, ["No.", "Class", "Team", "Stop", "In lap", "Out lap", "Race time",
                            "Pit time", "Driver in", "Driver out", "Driver change", "Under"],
                     focus=sel.focus, followed=sel.followed, time_columns=("Pit time",),
                     clock_columns=("Race time",),
                     height=420, key="pw-pit-table")
with drivers:
    rows = drive_rows
    st.caption("Drive time = sum of the driver's laps; a stint here is a continuous run "
               "of one driver (double stints count once).")
    styled_table(rows, ["No.", "Class", "Driver", "Drive time", "Share", "Laps", "Stints",
                        "Longest stint"], focus=sel.focus, followed=sel.followed,
                 clock_columns=("Drive time", "Longest stint"), percent_columns=("Share",),
                 height=420, key="pw-drive-table")
