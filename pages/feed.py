"""Race feed: every event of the race (pit in/out, driver changes, class leaders, fastest
laps, flags, retirements, alerts) in time order, filtered by class, car and kind."""

from __future__ import annotations

import streamlit as st

from race.analysis.events import KINDS
from race.present import views
from race.present.feed import FEED_COLUMNS, KIND_LABELS, feed_table, filter_feed
from race.present.presentation import sort_classes
from ui import data
from ui.state import selection
from ui.widgets import empty_state, guard, require_race

sel = selection()
st.subheader("Race feed", anchor=False)
race_id = require_race(sel)
with guard():
    cars = data.table(sel.db_path, race_id, sel.version, "cars")
    labels = views.car_labels(cars)
    # As of the sidebar's TV delay (None: every stored event).
    feed = filter_feed(data.events(sel.db_path, race_id, sel.version), until_s=sel.as_of_s)
    left, middle, right = st.columns(3)
    with left:
        classes = st.multiselect("Classes", sort_classes(cars["class"]),
                                 default=[c for c in sel.classes if c in set(cars["class"])],
                                 placeholder="All classes", key=f"pw_feed_classes::{race_id}")
    with middle:
        numbers = st.multiselect("Cars", views.car_options(cars, classes or None),
                                 format_func=lambda n: labels.get(n, n), placeholder="All cars",
                                 key=f"pw_feed_cars::{race_id}")
    with right:
        kinds = st.multiselect("Kinds", list(KINDS), format_func=KIND_LABELS.get,
                               placeholder="All kinds", key="pw_feed_kinds")
    shown = filter_feed(feed, classes=classes, numbers=numbers, kinds=kinds)
    if feed.empty:
        empty_state("No event stored for this race. Races imported before the feed existed "
                    "get one when they are imported again (Data page).")
    else:
        st.caption(f"{len(shown):,} of {len(feed):,} events")
        st.dataframe(feed_table(shown, labels, sel.followed)[FEED_COLUMNS], hide_index=True,
                     width="stretch", height=560, key="pw-feed-table")
    st.caption("Pit in: the in-lap crossing; pit out: the out-lap with PIT_TIME; class lead: "
               "most laps, then the earliest crossing, at each crossing of the class; fastest "
               "lap: below every earlier lap of the class; flags: start and end of each "
               "neutralisation; retired: no crossing for over 3 of the car's median laps "
               "while the race runs on; alerts: the incident detector (Anomalies).")
