"""Predictions: the model in use, next lap per car with its 80 % interval, next-5 pace,
predicted vs actual, and this race's running accuracy of the model against the EWMA baseline.

A stored race's predictions are computed on opening (replayed lap by lap with only the data
known at each moment) and again when a newer model is trained; a live race's come from the
monitor's job. Nothing is predicted past the chequered flag.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from race.models.live_models import BASELINE, model_for_race, update_race_models
from race.models.training import get_trainer, status_line
from race.present import queries, views
from race.present.presentation import clock_text, lap_time_text
from ui import data, model_charts, moment
from ui.state import REPLICA_NOTE, get_live_monitor, get_store, is_replica, selection, settings
from ui.widgets import empty_state, filter_classes, guard, require_race, styled_table

sel = selection()
st.subheader("Predictions", anchor=False)
race_id = require_race(sel)
cars = data.table(sel.db_path, race_id, sel.version, "cars")
labels = views.car_labels(cars)
store = get_store(sel.db_path)
models_dir = settings().models_dir
monitor = get_live_monitor(sel.db_path)
replica = is_replica()  # read-only: shows the publisher's stored predictions, trains nothing


def train_now(busy: bool) -> None:
    """*Train now*: the monitor's job when the app runs one, else here with a spinner."""
    if not st.button("Train now", icon=":material/model_training:", key="pw_train_now",
                     disabled=busy or replica,
                     help=REPLICA_NOTE if replica else
                     "Train the model on every stored race with flags."):
        return
    if monitor is not None and monitor.request_training(force=True):
        st.toast("Training started: its progress is in the sidebar.")
        return
    trainer = get_trainer(store, models_dir)
    with st.spinner("Training on the stored races…"):
        trainer.train(force=True)
    state = trainer.status()
    if state.state == "failed":
        st.error(f"Training failed: {state.message}")
        return
    st.rerun()


def with_band_text(frame: pd.DataFrame, column: str, values: pd.Series) -> pd.DataFrame:
    """The bound as a lap time, or "neutralised" where no band means anything."""
    texts = [("neutralised" if n else lap_time_text(v))
             for v, n in zip(values, frame["neutralised"], strict=True)]
    return frame.assign(**{column: values.to_numpy(), f"{column} text": texts})


@st.fragment(run_every="10s")
def predictions_panel() -> None:
    with guard():
        # As of now − the sidebar's TV delay, worked out on every refresh (a live race's
        # "now" moves).
        as_of_s = moment.as_of_s(sel.db_path, race_id, data.data_version(sel.db_path),
                                 sel.delay_s)
        choice = model_for_race(store, race_id, models_dir, background=monitor is not None)
        finish = queries.race_finish_s(store, race_id)
        overview = queries.prediction_overview(store, race_id, finish, as_of_s=as_of_s)
        waiting = choice.label == BASELINE and not choice.reason  # background training
        stale = overview.history.empty or overview.model != choice.label
        if (not replica and not choice.live and not waiting and stale
                and store.max_lap_number(race_id) > 0):
            with st.spinner("Replaying the race lap by lap with the model…"):
                update_race_models(store, race_id, models_dir=models_dir, force=True,
                                   auto_train=False)
            overview = queries.prediction_overview(store, race_id, finish,
                                                   as_of_s=as_of_s)

        if waiting:
            st.markdown(f"**Model:** {status_line(choice.training)}")
            st.progress(min(max(choice.training.progress, 0.0), 1.0))
        else:
            st.markdown(f"**Model:** {overview.model or choice.label}")
            if (overview.model or choice.label) == BASELINE:
                # A replica names the model of the predictions its publisher stored; its own
                # models folder (and Train now) play no part.
                why = ("the publisher has stored no model predictions for this race yet"
                       if replica else choice.reason)
                st.caption(f"The EWMA baseline with online intervals: {why}.")
            elif race_id in choice.training_races:
                st.caption("This race is one of the model's training races: its accuracy "
                           "below is in-sample.")
        train_now(busy=choice.training.state == "training")

        if overview.history.empty:
            if waiting:
                empty_state("Predictions appear as soon as the model is trained (this panel "
                            "refreshes every 10 s).")
            elif replica:
                empty_state("No predictions stored for this race: this read-only replica "
                            "shows what the publisher stores (a live race gets them after "
                            "10 laps and every 5 laps after).")
            else:
                empty_state("No predictions for this race yet: a live race gets them after "
                            "10 laps and every 5 laps after.")
            return
        if overview.finish_s is not None:
            st.info(f"Race finished at {clock_text(overview.finish_s)} (chequered flag): "
                    "there is no next lap to predict. Below: how the predictions did.",
                    icon=":material/sports_score:")
        else:
            next_laps = filter_classes(overview.next_laps, sel.classes)
            st.markdown("**Next lap per car** — 80 % interval recalibrated on this race's "
                        "laps (\"neutralised\": made under a caution, when no band means "
                        "anything); next 5 = mean of the next five green laps")
            table = pd.DataFrame({
                "No.": next_laps["number"], "Class": next_laps["class"],
                "Lap": next_laps["lap_number"], "Predicted": next_laps["predicted_s"],
                "Next 5": next_laps["next5_s"], "EWMA": next_laps["ewma_s"],
                "number": next_laps["number"], "class": next_laps["class"],
                "neutralised": next_laps["neutralised"]})
            table = with_band_text(table, "Low 80 %", next_laps["lower80_s"])
            table = with_band_text(table, "High 80 %", next_laps["upper80_s"])
            styled_table(table, ["No.", "Class", "Lap", "Predicted", "Low 80 %", "High 80 %",
                                 "Next 5", "EWMA"], focus=sel.focus, followed=sel.followed,
                         time_columns=("Predicted", "Next 5", "EWMA"), key="pw-next-laps")
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
                   "crossings up to that instant; the point is the median of its interval.")


predictions_panel()
