"""Anomalies: the incident feed (newest first, with the reason) and alerts on the lap chart.

Incidents are judged class-relative against each car's own recent pace, never on a lap that
overlaps a neutralisation period; slow pit stops are their own kind.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from race.models.live_models import update_race_models
from race.present import queries, timeline, views
from race.present.presentation import clock_text
from ui import charts, data, model_charts, moment
from ui.state import get_store, is_replica, selection
from ui.widgets import empty_state, filter_classes, guard, require_race, styled_table

sel = selection()
st.subheader("Anomalies", anchor=False)
race_id = require_race(sel)
cars = data.table(sel.db_path, race_id, sel.version, "cars")
labels = views.car_labels(cars)


@st.fragment(run_every="10s")
def anomalies_panel() -> None:
    with guard():
        # As of now − the sidebar's TV delay, worked out on every refresh (a live race's
        # "now" moves).
        as_of_s = moment.as_of_s(sel.db_path, race_id, data.data_version(sel.db_path),
                                 sel.delay_s)

        def as_of(alerts: pd.DataFrame) -> pd.DataFrame:
            return timeline.laps_until(alerts, as_of_s)

        store = get_store(sel.db_path)
        alerts = as_of(filter_classes(queries.alert_feed(store, race_id), sel.classes))
        live = queries.race_live(store, race_id)
        if alerts.empty and queries.prediction_overview(store, race_id).history.empty:
            if live:
                empty_state("The detector has not run on this race yet: a live race is "
                            "checked after 10 laps and every 5 laps after.")
                return
            if is_replica():  # the detector runs in the publisher, which stores alerts
                empty_state("No alert stored for this race: this read-only replica shows "
                            "what the publisher stores, and it has not run the detector on "
                            "this race.")
                return
            with st.spinner("Replaying the race lap by lap…"):
                update_race_models(store, race_id, force=True, auto_train=False)
            alerts = as_of(filter_classes(queries.alert_feed(store, race_id), sel.classes))
        finish = data.race_finish_s(sel.db_path, race_id, sel.version)
        if finish is not None and (as_of_s is None or as_of_s >= finish):
            st.info(f"Race finished at {clock_text(finish)} (chequered flag): the feed is "
                    "final.", icon=":material/sports_score:")
        st.markdown("**Alert feed** — newest first")
        if alerts.empty:
            empty_state("No incident or slow stop so far.")
        else:
            team = alerts["number"].map(cars.set_index("number")["team"]) if len(cars) \
                else None
            feed = pd.DataFrame({
                "Time": alerts["elapsed_s"], "No.": alerts["number"].astype(str),
                "Class": alerts["class"], "Team": team, "Lap": alerts["lap_number"],
                "Kind": alerts["kind"], "Loss (s)": alerts["score"],
                "Reason": alerts["reason"], "number": alerts["number"].astype(str),
                "class": alerts["class"]})
            styled_table(feed, ["Time", "No.", "Class", "Team", "Lap", "Kind", "Loss (s)",
                                "Reason"], focus=sel.focus, followed=sel.followed,
                         clock_columns=("Time",),
                         decimals={"Loss (s)": 1}, height=320, key="pw-alert-feed")
        options = views.car_options(cars, sel.classes or None)
        # Default: the focus car and the cars of the newest alerts in the newest alert's
        # class (one class keeps the lap-time axis readable).
        newest = alerts[alerts["class"] == alerts["class"].iloc[0]] if len(alerts) else alerts
        alerted = list(dict.fromkeys(newest["number"].astype(str)))
        default = [n for n in ([sel.focus] if sel.focus in options else []) + alerted[:3]
                   if n in options]
        numbers = st.multiselect("Cars on the lap chart", options,
                                 default=list(dict.fromkeys(default)),
                                 format_func=lambda n: labels.get(n, n),
                                 key=f"pw_anom_cars::{race_id}")
        if numbers:
            history = data.lap_history(sel.db_path, race_id, sel.version)
            chosen = timeline.laps_until(history[history["number"].isin(numbers)],
                                         as_of_s)
            periods = timeline.periods_until(
                data.table(sel.db_path, race_id, sel.version, "flag_periods"), as_of_s)
            y_range = views.lap_time_range(chosen)
            fig = charts.lap_time_figure(chosen, periods, numbers, focus=sel.focus,
                                         y_range=y_range, followed=sel.followed)
            model_charts.add_alert_markers(fig, alerts, chosen, numbers=numbers,
                                           y_range=y_range)
            st.plotly_chart(fig, key="pw-anom-chart")
        st.caption("Kinds: slow lap, spin/off (≥ 12 s mostly in one sector), damage run (3 "
                   "laps in a row down on the class), slow stop (PIT_TIME well above the "
                   "class median of green stops). ✕ marks alerted laps; shaded: neutralised "
                   "periods, where no incident is ever raised.")


anomalies_panel()
