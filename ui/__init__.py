"""Streamlit glue shared by app.py and the pages: the store resource, cached loaders keyed by
the data version, table styling, charts, error handling. Domain logic stays in ``race``."""
