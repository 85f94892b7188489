"""Anomalies: incidents and unusual laps, judged with flag context (filled by the detector)."""

from __future__ import annotations

import streamlit as st

from ui.state import selection
from ui.widgets import empty_state, require_race

sel = selection()
st.subheader("Anomalies", anchor=False)
require_race(sel)
st.markdown("**Incidents and unusual laps**")
empty_state("The incident detector is not available yet. Once it is, flagged laps appear "
            "here after 10 laps of a race, with the flag state at the time.")
