"""Predictions: next lap per car with its 80 % interval, next-5 pace, predicted vs actual,
and this race's running accuracy of the model against the EWMA baseline."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from race.models.live_models import update_race_models
from race.present import queries, views
from ui import data, model_charts
from ui.state import get_store, selection
from ui.widgets import empty_state, filter_classes, guard, require_race, styled_table

sel = selection()
st.subheader("Predictions", anchor=False)
race_id = require_race(sel)
cars = data.table(sel.db_path, race_id, sel.version, "cars")
labels = views.car_labels(cars)


def compute_button(label: str) -> None:
    """Replay the stored race through the models (as if live) and store the outputs."""
    if st.button(label, icon=":material/insights:"):
        with st.spinner("Replaying the race lap by lap…"):
            update_race_models(get_store(sel.db_path), race_id, force=True)
        st.rerun()


@st.fragment(run_every="10s")
def predictions_panel() -> None:
    with guard():
        overview = queries.prediction_overview(get_store(sel.db_path), race_id)
        if overview.history.empty:
            empty_state("No predictions for this race yet. A live race gets them after 10 "
                        "laps and every 5 laps after; for an imported race, compute them now "
                        "(the race is replayed lap by lap with only the data known at each "
                        "moment).")
            compute_button("Compute predictions and alerts")
            return
        if overview.model == "ewma-baseline":
            st.warning("No trained model yet (`python -m race train`): the predictions below "
                       "are the EWMA baseline with online intervals.", icon=":material/info:")
        next_laps = filter_classes(overview.next_laps, sel.classes)
        st.markdown("**Next lap per car** — 80 % interval recalibrated on this race's laps; "
                    "next 5 = mean of the next five green laps")
        table = pd.DataFrame({
            "No.": next_laps["number"], "Class": next_laps["class"],
            "Lap": next_laps["lap_number"], "Predicted": next_laps["predicted_s"],
            "Low 80 %": next_laps["lower80_s"], "High 80 %": next_laps["upper80_s"],
            "Next 5": next_laps["next5_s"], "EWMA": next_laps["ewma_s"],
            "number": next_laps["number"], "class": next_laps["class"]})
        styled_table(table, ["No.", "Class", "Lap", "Predicted", "Low 80 %", "High 80 %",
                             "Next 5", "EWMA"], focus=sel.focus,
                     time_columns=("Predicted", "Low 80 %", "High 80 %", "Next 5", "EWMA"),
                     key="pw-next-laps")
        options = views.car_options(cars, sel.classes or None)
        if options:
            default = options.index(sel.focus) if sel.focus in options else 0
            number = st.selectbox("Car", options, index=default,
                                  format_func=lambda n: labels.get(n, n), key="pw_pred_car")
            car = overview.history[overview.history["number"] == number]
            clean = car[car["s_clean"].fillna(False).astype(bool)]
            y_range = None
            if len(clean):
                lo, hi = clean["actual_s"].quantile([0.02, 0.98])
                y_range = (float(lo) - 2.0, float(hi) + 2.0)
            st.plotly_chart(model_charts.prediction_figure(overview.history, number, y_range),
                            key="pw-pred-chart")
        st.markdown("**Accuracy so far in this race** (clean laps: green, not an in- or "
                    "out-lap, not the first lap after a restart)")
        if overview.running.empty:
            empty_state("No completed clean lap with a prediction yet.")
        else:
            st.plotly_chart(model_charts.running_mae_figure(overview.running),
                            key="pw-mae-chart")
            by_class = overview.by_class.rename(columns={
                "n": "Laps", "mae_model": "MAE model (s)", "mae_ewma": "MAE EWMA (s)",
                "skill": "Skill", "coverage": "80 % coverage"}).assign(
                    Class=overview.by_class["class"])
            styled_table(by_class, ["Class", "Laps", "MAE model (s)", "MAE EWMA (s)", "Skill",
                                    "80 % coverage"], percent_columns=("80 % coverage",),
                         decimals={"MAE model (s)": 3, "MAE EWMA (s)": 3, "Skill": 3},
                         pinned=(), key="pw-pred-by-class")
        st.caption(f"Model: {overview.model}. Skill = 1 − MAE model / MAE EWMA. The model "
                   "predicts each car's lap from the end of its previous lap, using only "
                   "crossings up to that instant.")


predictions_panel()
