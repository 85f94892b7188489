"""Every table finished (issue #13 item 3): "—" for missing values, widths, contrast, numeric
car-number sort, words for labels, event names; the compact leaderboard and the race trace.
Pure: ``race.present.tables``, ``race.present.presentation``, ``race.present.views``."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from race.present import views
from race.present.presentation import (
    CLASS_COLOURS,
    PAGE_BACKGROUND,
    WCAG_AA,
    class_chips_html,
    class_text_colour,
    contrast_ratio,
    event_title,
    number_cell_colours,
    number_sort_keys,
    table_css,
)
from race.present.tables import MISSING, column_width_px, table_view, text_width_px

# Every listed class, names that only match a family, and an unknown one.
CLASSES = [*CLASS_COLOURS, "GTDPRO", "LMP2 PRO/AM", "GTE-AM", "LMGTE", "GT3", "Formula Ford"]


def test_contrast_ratio_matches_wcag_reference_values() -> None:
    assert contrast_ratio("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast_ratio("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)
    assert contrast_ratio("#ffffff", "#777777") == contrast_ratio("#777777", "#ffffff")


@pytest.mark.parametrize("cls", CLASSES)
def test_number_cell_and_class_text_meet_wcag_aa(cls: str) -> None:
    background, text = number_cell_colours(cls)
    assert contrast_ratio(background, text) >= WCAG_AA
    assert contrast_ratio(class_text_colour(cls), PAGE_BACKGROUND) >= WCAG_AA
    board = pd.DataFrame({"number": ["7"], "class": [cls], "No.": ["7"], "Class": [cls]})
    css = table_css(board, ["No.", "Class"], focus=None).iloc[0]
    assert f"background-color: {background}; color: {text}" in css["No."]
    assert f"background:{background};color:{text}" in class_chips_html({cls: 3})


def test_the_issue_s_red_cell_reads_now() -> None:
    # White on GTP red was 3.7:1 and on LMP2 blue 3.7:1 (2.4:1 reported on the page).
    for cls in ("GTP", "LMP2", "GTD", "GTLM", "HYPERCAR"):
        assert contrast_ratio(*number_cell_colours(cls)) >= WCAG_AA


def test_car_numbers_sort_as_numbers_with_a_text_tiebreak() -> None:
    numbers = ["10", "11", "155", "183", "19", "2", "007", "7", "A1", "B"]
    keys = number_sort_keys(numbers)
    ordered = [n for _, n in sorted(zip(keys, numbers, strict=True))]
    # "A1" sorts by its digits (1); "B" has none.
    assert ordered == ["A1", "2", "007", "7", "10", "11", "19", "155", "183", "B"]
    assert ordered.index("007") < ordered.index("7")  # "007" is not "7", both kept apart
    assert len(set(keys)) == len(numbers)
    assert number_sort_keys(["7", "7"])[0] == number_sort_keys(["7", "7"])[1]
    assert ordered[-1] == "B"  # no digit: after every numbered car


def test_table_view_missing_values_widths_and_sort_keys() -> None:
    frame = pd.DataFrame({
        "No.": ["! 10", "2", "155"], "Class": ["HYPERCAR", "GTDPRO", None],
        "Gap": [0.0, 62.824, np.nan], "Gap text": ["—", "+1:02.824", None],
        "S2": [31.2, None, np.nan], "P": pd.Series([0.25, None, None], dtype=object),
        "In lap": pd.array([3, None, 5], dtype="Int64"), "Since": [np.nan, 90.0, 3600.0],
        "Team": ["A", None, ""], "number": ["10", "2", "155"], "class": ["H", "G", "G"]})
    view = table_view(frame, ["No.", "Class", "Gap", "S2", "P", "In lap", "Since", "Team",
                              "absent"], sector_columns=("S2",), percent_columns=("P",),
                      clock_columns=("Since",))
    assert list(view.values.columns) == ["No.", "Class", "Gap", "S2", "P", "In lap", "Since",
                                         "Team"]
    text = view.text
    assert text["Gap"].tolist() == ["—", "+1:02.824", MISSING]
    assert text["S2"].tolist() == ["31.200", MISSING, MISSING]
    assert text["P"].tolist() == ["25.0 %", MISSING, MISSING]
    assert text["In lap"].tolist() == ["3", MISSING, "5"]
    assert text["Since"].tolist() == [MISSING, "0:01:30", "1:00:00"]
    assert text["Team"].tolist() == ["A", MISSING, MISSING]
    assert text["No."].tolist() == ["! 10", "2", "155"]
    flat = " ".join(text.to_numpy().ravel().astype(str))
    for raw in ("None", "nan", "NaN", "<NA>", "NaT"):
        assert raw not in flat.split()
    # No null reaches the grid (it would print "None"); missing numbers sort last.
    assert not view.values.isna().any().any()
    assert view.values["S2"].tolist()[1:] == [np.inf, np.inf]
    assert view.values["No."].tolist() == [10.0, 2.0, 155.0]  # "!" is display only
    assert view.values["P"].dtype == float
    # Every column as wide as its longest text and its header.
    assert view.widths["Gap"] >= text_width_px("+1:02.824") + 16
    assert view.widths["Class"] >= text_width_px("HYPERCAR") + 16
    assert column_width_px("Class", ["GTDPRO"]) > text_width_px("GTDPRO")


def test_event_names_are_what_people_say() -> None:
    assert event_title("05-sebring-international-raceway", "Sebring International Raceway",
                       43254.5) == "Sebring 12 Hours"
    assert event_title("le-mans-24h", "Le Mans", 86400.0) == "Le Mans 24 Hours"
    assert event_title("12-6h---watkins-glen-international", None, 21700.0) == \
        "Watkins Glen 6 Hours"
    assert event_title("08-long-beach-street-circuit", None, 6000.0) == "Long Beach"
    assert event_title("18-virginia-international-raceway", None, 9600.0) == "Virginia"
    assert event_title("Sebring 12 Hours") == "Sebring 12 Hours"
    assert event_title("sample-6h-seed1", "Sample 6H Seed1", 21600.0) == "Sample race, 6 Hours"
    assert event_title("sample-90min-seed3") == "Sample race, 90 minutes (seed 3)"
    assert event_title(None, float("nan"), float("nan")) == ""


def test_races_table_has_words_for_headers_and_event_names() -> None:
    races = pd.DataFrame({
        "race_id": ["imsa-2024-05-sebring-international-raceway-race"], "series": ["IMSA"],
        "season": [2024], "event": ["05-sebring-international-raceway"], "session": ["Race"],
        "track": ["Sebring International Raceway"], "duration_s": [43254.5], "laps": [16836],
        "cars": [58], "classes": ["GTD,GTDPRO,GTP,LMP2"], "has_flags": [True],
        "imported_at": [pd.Timestamp("2026-01-01 10:00")]})
    table = views.races_table(races)
    assert list(table.columns) == views.RACES_TABLE_COLUMNS
    assert not {"race_id", "has_flags", "imported_at"} & set(table.columns)
    row = table.iloc[0]
    assert row["Race"] == "Sebring 12 Hours" and row["Flags"] == "from the file"
    assert row["Classes"] == "GTD, GTDPRO, GTP, LMP2"
    assert views.race_names(races) == {
        "imsa-2024-05-sebring-international-raceway-race": "IMSA 2024 · Sebring 12 Hours · Race"}
    log = pd.DataFrame({"ingest_id": [1], "started_at": [pd.Timestamp("2026-01-01")],
                        "finished_at": [None], "kind": ["import"],
                        "source": ["/a/b/imsa/2024/05-sebring/laps.csv"], "race_id": ["x"],
                        "status": ["ok"], "rows": [3], "message": [None]})
    rows = views.ingest_log_rows(log)
    assert list(rows.columns) == list(views.INGEST_LOG_LABELS.values())
    assert rows["Source"].iloc[0] == "2024/05-sebring/laps.csv"
    assert views.table_height_px(1) < views.table_height_px(5) == views.table_height_px(5)
    assert views.table_height_px(200) == views.table_height_px(10)
    assert views.default_index(["a", "b"], "b") == 1 and views.default_index(["a"], None) == 0


def test_compact_and_full_leaderboard_layouts() -> None:
    assert views.leaderboard_columns("compact") == ["Pos", "No.", "Class", "Driver", "Gap",
                                                    "Int", "Last"]
    full = views.leaderboard_columns("full")
    assert not set(views.SECTOR_COLUMNS) & set(full)
    with_sectors = views.leaderboard_columns("full", sectors=True)
    assert with_sectors.index("S1") == with_sectors.index("Best") + 1  # beside the lap times
    assert views.leaderboard_columns("compact", sectors=True) == \
        views.leaderboard_columns("compact")
    assert views.layout_from_query("Compact") == "compact"
    assert views.layout_from_query(None) == views.layout_from_query("<x>") == "full"


def test_race_trace_of_a_class() -> None:
    rows = []
    for number, pace in (("7", 100.0), ("8", 101.0), ("9", 100.5)):
        for lap in range(1, 11):
            rows.append({"number": number, "class": "H" if number != "9" else "G",
                         "lap_number": lap, "elapsed_s": lap * pace, "lap_time_s": pace,
                         "clean": lap > 1, "neutralised": False})
    history = views.lap_history(pd.DataFrame(rows))
    trace = views.race_trace(history, "H", ["8", "7"])
    assert trace.order == ["8", "7"] and set(trace.laps["number"]) == {"7", "8"}
    eight = trace.laps[trace.laps["number"] == "8"].sort_values("lap_number")
    assert eight["class_gap_s"].tolist() == pytest.approx([float(k) for k in range(1, 11)])
    assert trace.gap_max_s == pytest.approx(10.0)  # the largest gap, under 1.5 laps
    smooth = views.race_trace(history, "H", smooth_laps=5)
    assert smooth.order == ["7", "8"] and "trace_s" in smooth.laps
    assert views.race_trace(history, "nope").order == []
