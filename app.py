"""Pit Wall: the Streamlit frame (filled by the dashboard work)."""

import streamlit as st

st.set_page_config(page_title="Pit Wall", layout="wide")
st.title("Pit Wall")
st.info("No race loaded yet: import official timing files with `python -m race import PATH`.")
