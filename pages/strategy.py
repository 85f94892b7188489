"""Strategy: pit windows, stop cost, position after the stop (filled by the strategy work)."""

from __future__ import annotations

import streamlit as st

from ui.state import selection
from ui.widgets import empty_state, require_race

sel = selection()
st.subheader("Strategy", anchor=False)
require_race(sel)
window, cost, rejoin = st.columns(3)
with window:
    st.markdown("**Pit window**")
    empty_state("The strategy engine is not available yet: pit windows will appear here.")
with cost:
    st.markdown("**Stop cost**")
    empty_state("Not available yet: the cost of a stop under green and under FCY / safety car.")
with rejoin:
    st.markdown("**Position after the stop**")
    empty_state("Not available yet: where the focus car would rejoin if it pitted now.")
