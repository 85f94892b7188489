"""Data sources: pure parsers (text or bytes in, DataFrame out) and the one fetching module."""
