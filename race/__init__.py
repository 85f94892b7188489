"""Pit Wall's domain package: timing sources, DuckDB store, analysis, models, command line.

Never imports Streamlit: pages/ and app.py own the UI.
"""
