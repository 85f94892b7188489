"""Predictions: next-lap times with intervals (filled once a model is trained)."""

from __future__ import annotations

import streamlit as st

from ui.state import selection
from ui.widgets import empty_state, require_race

sel = selection()
st.subheader("Predictions", anchor=False)
require_race(sel)
st.markdown("**Next lap per car** (prediction and 80 % interval)")
empty_state("Model not trained yet: no prediction is shown until a next-lap model that beats "
            "the naive baselines has been trained and saved under `models/`.")
st.markdown("**Accuracy so far in this race**")
empty_state("Available once predictions are being made: their error is compared here with "
            "the last-lap and EWMA baselines.")
