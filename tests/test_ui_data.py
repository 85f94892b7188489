"""The pages' cached reads (``ui.data``): a new data version drops the older version's entries,
so a live race polled every 10 s does not keep a copy of its laps per poll."""

from __future__ import annotations

from pathlib import Path

from race.importer import import_lap_file
from tests.lapfixture import lap_file
from ui import data
from ui.state import get_store


def test_a_new_data_version_clears_the_older_versions_entries(tmp_path: Path) -> None:
    path = str(tmp_path / "race.duckdb")
    store = get_store(path)
    before = data.data_version(path)
    assert data.races(path, before).empty  # cached: an empty database
    assert data.races(path, before).empty  # served from the cache
    race_id = import_lap_file(store, tmp_path / "laps.csv", data=lap_file(),
                              series="imsa", event="test", year=2024).race_id
    # Not seen yet: the entry of the older version is still served.
    assert data.races(path, before).empty
    after = data.data_version(path)
    assert after != before
    # Seen: the older entry is gone (recomputed now, it finds the imported race).
    assert list(data.races(path, before)["race_id"]) == [race_id]
    board, _, _ = data.leaderboard(path, race_id, after, None)
    assert len(board) == 3
    assert data.data_version(path) == after  # unchanged version: nothing cleared
    assert len(data.leaderboard(path, race_id, after, None)[0]) == 3


def test_every_versioned_read_is_cleared() -> None:
    """Each cached read keyed by the data version is in ``VERSIONED`` (and nothing else)."""
    import inspect

    cached = {name: func for name, func in vars(data).items()
              if callable(func) and callable(getattr(func, "clear", None))}
    keyed = {name for name, func in cached.items()
             if "version" in inspect.signature(func).parameters}
    assert keyed == {func.__name__ for func in data.VERSIONED}


def test_kept_tables_and_figures_are_sent_as_fresh_ones() -> None:
    """``ui.render_cache`` keeps Streamlit's marshalling of a Styler and a figure: what a
    rerun sends equals what a fresh build sends, and the kept one is not rebuilt."""
    from streamlit.testing.v1 import AppTest

    def script() -> None:
        import pandas as pd
        import plotly.graph_objects as go
        import streamlit as st

        from ui import render_cache

        def build():
            frame = pd.DataFrame({"No.": ["7", "51"], "Last": [207.1, 210.25]})
            return frame.style.format({"Last": "{:.3f}"}).map(
                lambda v: "color: red" if v == "7" else "")

        builds = st.session_state.setdefault("builds", [])
        kept = render_cache.memo_styler("t", lambda: builds.append(1) or build())
        fresh = build()
        fresh.set_uuid(kept.uuid or "x")
        st.dataframe(kept, key="kept")
        st.dataframe(fresh, key="fresh")
        figure = st.session_state.setdefault(
            "figure", render_cache.memo_figure(go.Figure(go.Bar(x=[1, 2], y=[3, 4]))))
        st.plotly_chart(figure, key="kept-chart")
        st.plotly_chart(go.Figure(go.Bar(x=[1, 2], y=[3, 4])), key="fresh-chart")

    at = AppTest.from_function(script)
    for _ in range(3):
        at.run()
        assert not at.exception
        kept, fresh = at.dataframe
        assert kept.proto.arrow_data.styler.display_values == \
            fresh.proto.arrow_data.styler.display_values
        assert list(kept.proto.arrow_data.styler.styles) == \
            list(fresh.proto.arrow_data.styler.styles)
        assert kept.proto.arrow_data.data == fresh.proto.arrow_data.data
        charts = [e for e in at.main if e.type == "plotly_chart"]
        assert charts[0].proto.spec == charts[1].proto.spec
    assert at.session_state["builds"] == [1]  # built once, sent three times
