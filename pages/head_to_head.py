"""Head-to-head: two cars side by side — gap over time, lap-by-lap delta, clean-lap pace per
stint and sector, stops and their cost, drive time per driver."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from race.present import views
from race.present.head_to_head import (
    DRIVE_COLUMNS,
    PACE_COLUMNS,
    STOP_COLUMNS,
    both_cars,
    default_pair,
    delta_summary,
    summary_rows,
)
from ui import data, h2h_charts
from ui.render_cache import memo_call
from ui.state import selection
from ui.widgets import empty_state, require_race, styled_table

sel = selection()
st.subheader("Head-to-head", anchor=False)
race_id = require_race(sel)
cars = data.table(sel.db_path, race_id, sel.version, "cars")
board, _, _ = data.leaderboard(sel.db_path, race_id, sel.version, None)
options = views.car_options(cars, sel.classes or None)
if len(options) < 2:
    empty_state("Pick two cars of this race: fewer than two cars are shown. Clear the class "
                "filter in the sidebar, or pick another race.")
    st.stop()

labels = views.car_labels(cars)
first, second = default_pair(board[board["number"].isin(options)], sel.focus, sel.classes)
first = first if first in options else options[0]
if second not in options or second == first:
    second = next(n for n in options if n != first)
left, right = st.columns(2)
a = left.selectbox("Car A", options, index=views.default_index(options, first),
                   key=f"pw_h2h_a::{race_id}", format_func=lambda n: labels.get(n, n))
b = right.selectbox("Car B", options, index=views.default_index(options, second),
                    key=f"pw_h2h_b::{race_id}", format_func=lambda n: labels.get(n, n))
if a is None or b is None or a == b:
    empty_state("Pick two different cars of this race above.")
    st.stop()

h2h = data.head_to_head(sel.db_path, race_id, sel.version, a, b)
periods = data.table(sel.db_path, race_id, sel.version, "flag_periods")
st.markdown(f"**{h2h.headline}** — :blue[car A #{a}], :orange[car B #{b}]")

summary = summary_rows(h2h, cars)
styled_table(summary, ["No.", "Clean laps", "Median clean", "Best clean",
                       *(["S1", "S2", "S3"] if h2h.sectors else []), "Stops", "Pit time"],
             focus=sel.focus, time_columns=("Median clean", "Best clean", "Pit time"),
             sector_columns=("S1", "S2", "S3"), labels={"Pit time": "Pit time (all stops)"},
             cache_key=("h2h-summary", race_id, sel.version, a, b), key="pw-h2h-summary")

gap_tab, delta_tab = st.tabs(["Gap over time", "Lap-by-lap delta"])
with gap_tab:
    if h2h.gap.empty:
        empty_state(f"#{a} and #{b} have no lap in common yet.")
    else:
        st.plotly_chart(memo_call(h2h_charts.gap_figure, h2h.gap, a, b, periods=periods),
                        key="pw-h2h-gap")
        st.caption(f"At each lap both completed: #{b}'s line crossing minus #{a}'s (up: "
                   f"#{a} ahead). Once the car ahead had started another lap when the other "
                   "crossed, the gap is counted in laps (dotted line, right axis). Shaded: "
                   "neutralised periods.")
with delta_tab:
    if h2h.deltas.empty:
        empty_state(f"#{a} and #{b} have no timed lap in common yet.")
    else:
        st.plotly_chart(memo_call(h2h_charts.delta_figure, h2h.deltas, a, b),
                        key="pw-h2h-delta")
        st.caption(delta_summary(h2h.deltas, a, b) + " Bars up: #" + a + " faster on that "
                   "lap. Grey: a pit lap of either car; yellow-grey: a neutralised lap. The "
                   "axis is set from the green laps; pit laps run off its edges.")


def both_table(title: str, frames: dict[str, pd.DataFrame], shown: list[str], empty: str,
               **table_args: object) -> None:
    """The two cars' rows in one table, A's first (a table per car would not fit half a
    screen, nor a phone)."""
    st.markdown(f"**{title}**")
    rows = both_cars(frames, a, b)
    if rows.empty:
        empty_state(empty)
        return
    missing = [f"#{n}" for n in (a, b) if frames[n].empty]
    if missing:
        st.caption(f"{' and '.join(missing)}: {empty.lower()}")
    styled_table(rows, ["No.", *shown], focus=sel.focus,
                 cache_key=(title, race_id, sel.version, a, b), key=f"pw-h2h-{title}",
                 **table_args)


sectors = ["S1", "S2", "S3"] if h2h.sectors else []
both_table("Clean-lap pace per stint", h2h.pace,
           [c for c in PACE_COLUMNS if c not in ("S1", "S2", "S3")] + sectors, "No laps yet.",
           time_columns=("Median clean", "Best clean"), sector_columns=tuple(sectors))
st.caption("Clean laps: not lap 1, not an in- or out-lap, not neutralised, not the first lap "
           "after a restart. Sectors: median of the clean laps' sector times"
           + ("." if h2h.sectors else " — this race's source has no sector times."))
both_table("Stops and their cost", h2h.stops, STOP_COLUMNS, "No pit stop yet.",
           time_columns=("Pit time", "Stop cost"), clock_columns=("Race time",))
st.caption("Pit time: time in the pit lane (PIT_TIME). Stop cost: in-lap + out-lap − 2 × the "
           "median clean lap among the 6 laps before (the strategy engine's measure); — "
           "when too few clean laps came before the stop.")
both_table("Drive time per driver", h2h.drive, DRIVE_COLUMNS, "No stint yet.",
           clock_columns=("Drive time", "Longest stint"), percent_columns=("Share",))
