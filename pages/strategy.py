"""Strategy: pit windows, stop cost, position after the stop, drive time, finish projection.

Thin page: widgets → ``race.present.queries.strategy_*`` → render. The engine only uses the laps up
to the chosen race time, so an imported race can be looked at as it stood at any moment. After
the chequered flag there is no window and no what-if: the final stints, stops and drive time.
"""

from __future__ import annotations

import math

import streamlit as st

from race.present import views
from race.present.presentation import clock_text
from race.strategy import views as strategy_views
from race.strategy.live import stint_plan, what_if
from ui import data
from ui.state import selection
from ui.widgets import empty_state, filter_classes, guard, require_race, styled_table

sel = selection()
st.subheader("Strategy", anchor=False)
race_id = require_race(sel)
races = data.races(sel.db_path, sel.version)
others = tuple(sorted(zip(races["race_id"], races["laps"], strict=True)))
others = tuple(r for r in others if r[0] != race_id)
cars = data.table(sel.db_path, race_id, sel.version, "cars")
labels = views.car_labels(cars)

end_s = data.race_end_s(sel.db_path, race_id, sel.version)
replay_t_s = None
if st.toggle("Look at an earlier moment", key="pw_strategy_replay",
             help="The engine then sees only the laps completed by that race time."):
    minutes = list(range(1, max(2, math.ceil(end_s / 60) + 1)))
    picked = st.select_slider("Race time", options=minutes, value=minutes[-1],
                              format_func=lambda m: clock_text(m * 60), key="pw_strategy_t")
    replay_t_s = min(float(picked) * 60, end_s)
t_s = sel.at(replay_t_s)  # the moment minus the sidebar's TV delay (None: now)
followed = sel.followed

with guard():
    with st.spinner("Projecting windows and stops…"):
        past = data.strategy_history(sel.db_path, race_id, others)
        snap = data.strategy_snapshot(sel.db_path, race_id, sel.version, t_s, others)
    if snap.cars.empty:
        empty_state("No laps yet: the strategy picture appears after the first crossings.")
        st.stop()
    finish = data.race_finish_s(sel.db_path, race_id, sel.version)
    if finish is not None and snap.t_s >= finish:
        st.caption(f"Race finished at {clock_text(finish)} (chequered flag): the final "
                   f"stints, stops and drive time. Look at an earlier moment for the pit "
                   f"windows as they stood · history: {len(past.summaries)} other race(s) "
                   "of the series")
        stints = data.table(sel.db_path, race_id, sel.version, "stints")
        stops = data.table(sel.db_path, race_id, sel.version, "pit_stops")
        st.markdown("**Final stints and stops** — class position at the flag; time in the "
                    "pits = the sum of the car's PIT_TIME")
        rows = filter_classes(strategy_views.final_rows(snap, stints, stops), sel.classes)
        styled_table(rows, ["No.", "Class", "Pos", "Laps", "Stints", "Stops",
                            "Time in the pits", "Longest stint (laps)", "Last stint (laps)"],
                     focus=sel.focus, followed=followed, clock_columns=("Time in the pits",),
                     height=420,
                     key="pw-strategy-final")
        st.markdown("**Drive time** — minimums are editable settings "
                    "(`race/strategy/drive_time_rules.csv`, several approximate)")
        drivers = filter_classes(strategy_views.final_driver_rows(snap), sel.classes)
        styled_table(drivers, ["No.", "Class", "Driver", "Drive time", "Share", "Stints",
                               "Minimum", "Status"], focus=sel.focus, followed=followed,
                     clock_columns=("Drive time", "Minimum"), percent_columns=("Share",),
                     height=320, key="pw-strategy-final-drivers")
        st.stop()
    st.caption(f"As of {clock_text(snap.t_s)} · flag {snap.flag} · scheduled end "
               f"{clock_text(snap.end_s) if snap.end_s else 'unknown'} · history: "
               f"{len(past.summaries)} other race(s) of the series")

    options = views.car_options(cars, sel.classes or None)
    default = options.index(sel.focus) if sel.focus in options else 0
    focus = st.selectbox("Focus car", options, index=default, key="pw_strategy_car",
                         format_func=lambda n: labels.get(n, n)) if options else None
    if focus is not None:
        lines = strategy_views.card(snap, focus)
        card, plan = st.columns([3, 2])
        with card:
            with st.container(border=True):
                st.markdown(f"**{labels.get(focus, focus)}**")
                for name, text in lines.items():
                    st.markdown(f"**{name}:** {text}")
            k = st.slider("What if it stops in k laps?", 1, 30, 1, key="pw_strategy_k")
            duel = what_if(snap, focus, k)
            if duel.attrs:
                st.markdown(f"Stop at the end of lap {duel.attrs['stop_lap']}: P"
                            f"{int(duel.attrs['position'])} in class on lap "
                            f"{duel.attrs['target_lap']} (median of 400 draws).")
                shown = duel.assign(
                    **{"No.": duel["number"], "P(ahead of it)": duel["p_ahead"],
                       "Gap (s)": duel["gap_s"], "Its next stop": duel["stop_lap"]})
                styled_table(shown, ["No.", "P(ahead of it)", "Gap (s)", "Its next stop"],
                             followed=followed,
                             percent_columns=("P(ahead of it)",), decimals={"Gap (s)": 1},
                             height=240, key="pw-strategy-duel")
        with plan:
            st.markdown("**Stint plan to the flag** (green running)")
            plan_rows = stint_plan(snap, focus).rename(columns={
                "stint": "Stint", "from_lap": "From lap", "in_lap": "In lap", "laps": "Laps",
                "fill": "Fuel"})
            styled_table(plan_rows, list(plan_rows.columns), pinned=(),
                         key="pw-strategy-plan")

    st.markdown("**Field** — window = earliest / expected / latest in-lap; position after "
                "stop = class position 2 laps after the out-lap (Monte Carlo median); cost 80 % = "
                "the range 8 stops in 10 of this class cost (tyre service is not in the timing "
                "data, so a stop can land anywhere in it)")
    rows = filter_classes(strategy_views.field_rows(snap), sel.classes)
    styled_table(rows, ["No.", "Class", "Pos", "Laps", "Stint laps", "Earliest", "Expected",
                        "Latest", "Laps left", "Stop cost (s)", "Cost 80 %", "Pos after stop",
                        "Rejoin if in now", "P(caution stop)", "Stops to flag", "Last fill"],
                 focus=sel.focus, followed=followed,
                 percent_columns=("P(caution stop)", "Last fill"),
                 decimals={"Stop cost (s)": 1, "Pos after stop": 1, "Rejoin if in now": 1},
                 height=420, key="pw-strategy-field")

    st.markdown("**Drive time** — minimums are editable settings "
                "(`race/strategy/drive_time_rules.csv`, several approximate)")
    drivers = filter_classes(strategy_views.driver_rows(snap), sel.classes)
    styled_table(drivers, ["No.", "Class", "Driver", "Drive time", "Share", "Stints",
                           "Since last stint", "Minimum", "Still owed", "Status"],
                 focus=sel.focus, followed=followed,
                 clock_columns=("Drive time", "Since last stint", "Minimum",
                                                 "Still owed"),
                 percent_columns=("Share",), height=320, key="pw-strategy-drivers")
st.caption("Windows come from this car's, its manufacturer's and its class's completed "
           "stints and the stored history, with neutralised laps counted at a measured "
           "fraction of a green lap. Backtested on real races: see benchmarks/strategy_eval.py.")
