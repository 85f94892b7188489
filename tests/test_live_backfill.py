"""Results portals and backfill: listings parsed with BeautifulSoup, the newest hourly lap
file found, and laps a feed outage lost filled with their exact official times."""

from __future__ import annotations

from race.live.backfill import backfill_race
from race.live.session import LiveConfig, LiveSession
from race.sources.alkamel import (
    Link,
    ResultsPoller,
    hour_folders,
    is_lap_file,
    newest_lap_file,
    parse_listing,
    pick_lap_file,
)
from race.sources.fetch import Fetcher
from race.sources.replay import FeedBuilder
from race.store import RaceStore
from tests.lapfixture import render
from tests.live_helpers import (
    FEED_PATHS,
    FeedServer,
    FeedState,
    assert_matches_official,
    official_frames,
    poll_times,
    synthetic_rows,
)

SESSION = "/Results/26_2026/04_LE%20MANS/267_FIA%20WEC/202606131600_Race/"


def listing(*names: str) -> bytes:
    rows = "".join(f'<tr><td><a href="{n}">{n.rstrip("/")}</a></td><td>2026-06-13</td></tr>'
                   for n in names)
    return (f"<html><body><h1>Index</h1><table><tr><th><a href='?C=N;O=D'>Name</a></th></tr>"
            f"<tr><td><a href='../'>Parent Directory</a></td></tr>{rows}</table>"
            f"<a href='/'>home</a></body></html>").encode()


def test_listing_links_and_lap_files() -> None:
    html = listing("Hour%201/", "Hour%209/", "Hour%2010/", "03_Results_Race.CSV",
                   "23_Analysis_Race_Hour%20%206.CSV", "23_Time%20Cards_Race.JSON",
                   "23_Time%20Cards_Race.CSV")
    links = parse_listing(html, "https://portal.example" + SESSION)
    names = [link.name for link in links]
    assert "Parent Directory" not in names and "Name" not in names and "home" not in names
    assert [f.hour for f in hour_folders(links)] == [10, 9, 1]  # numeric, not text order
    lap_files = [link.name for link in links if is_lap_file(link)]
    assert lap_files == ["23_Analysis_Race_Hour  6.CSV", "23_Time Cards_Race.CSV"]
    assert pick_lap_file(links).name == "23_Time Cards_Race.CSV"  # final file (no hour)
    assert all(link.url.startswith("https://portal.example/Results/") for link in links)
    assert pick_lap_file([Link("Results.CSV", "u", False)]) is None


def _portal(state: FeedState, rows: list[dict], hour: int) -> None:
    """Publish the official file as the portal does during a race: Hour <N> folders."""
    folders = [f"Hour%20{h}/" for h in range(1, hour + 1)]
    state.files[SESSION] = listing(*folders, "03_Results_Race_Hour%201.CSV")
    for h in range(1, hour + 1):
        name = f"23_Analysis_Race_Hour%20{h}.CSV"
        state.files[f"{SESSION}Hour%20{h}/"] = listing(name)
    state.files[f"{SESSION}Hour%20{hour}/23_Analysis_Race_Hour%20{hour}.CSV"] = render(rows)


def test_outage_then_backfill_gives_the_official_race(store: RaceStore) -> None:
    rows = synthetic_rows()
    frames = official_frames(render(rows))
    builder = FeedBuilder(frames["laps"], frames["flag_periods"], event="Backfill Test")
    state = FeedState(builder=builder, layout="wec-2017")
    fetcher = Fetcher(timeout_s=2, attempts=2, retry_delay_s=0.01, min_interval_s=0.0)
    with FeedServer(state) as server:
        session = LiveSession(store, LiveConfig(source="wec", url=server.url(
            FEED_PATHS["wec-2017"][0]), race_id="live-backfill"), fetcher=fetcher,
            recorder=False)
        times = poll_times(builder, 10.0, builder.end_s + 30)
        outage = (600.0, 900.0)  # five minutes without a single good poll
        for t in times:
            state.clock = t
            if outage[0] < t < outage[1]:
                state.add_fault(FEED_PATHS["wec-2017"][0], "500", "500")
            session.poll_once()
            if t == times[len(times) * 3 // 4]:
                markers = store.backfill_markers("live-backfill")
                laps = store.table("laps", "live-backfill")
                unknown = markers[markers["reason"] == "lap_time_unknown"]
                assert len(unknown) >= 8  # every car lost laps in the outage
                lost = laps.merge(unknown, on=["number", "lap_number"])
                assert lost["lap_time_s"].isna().all() and lost["elapsed_s"].isna().all()
                # mid-race: the portal's hour-1 file arrives (first 20 min of the race)
                early = [r for r in rows if _ms(r["ELAPSED"]) <= 1_200_000]
                _portal(state, early, 1)
                poller = ResultsPoller(store, server.url(SESSION), race_id="live-backfill",
                                       fetcher=fetcher)
                first = poller.poll_once()
                assert first.status == "backfilled", first
                assert poller.poll_once().status == "unchanged"
                left = store.backfill_markers("live-backfill")
                assert not (left["reason"] == "lap_time_unknown").any()
                assert not (left["reason"] == "elapsed_estimated").any()  # re-chained
        # live polling went on after the backfill rewrote the race (revision check)
        assert store.table("laps", "live-backfill")["lap_number"].groupby(
            store.table("laps", "live-backfill")["number"]).max().to_dict() == \
            frames["laps"].groupby("number")["lap_number"].max().to_dict()
        _portal(state, rows, 2)
        final = ResultsPoller(store, server.url(SESSION), race_id="live-backfill",
                              fetcher=fetcher).poll_once()
        assert final.status == "backfilled"
    figures = assert_matches_official(store, "live-backfill", frames, pit_tolerance_s=0.0)
    assert figures["pit_error_max_s"] == 0.0  # official pit times after the backfill
    assert store.backfill_markers("live-backfill").empty
    both = frames["laps"].merge(store.table("laps", "live-backfill"),
                                on=["number", "lap_number"], suffixes=("_o", "_l"))
    assert (both["driver_number_o"] == both["driver_number_l"]).all()
    assert (both["pit_time_s_o"].fillna(-1) == both["pit_time_s_l"].fillna(-1)).all()


def test_portal_without_a_live_race_imports_the_file(store: RaceStore, tmp_path) -> None:
    rows = synthetic_rows()
    state = FeedState()
    _portal(state, rows, 3)
    with FeedServer(state) as server:
        fetcher = Fetcher(timeout_s=2, attempts=1, min_interval_s=0.0)
        link = newest_lap_file(server.url(SESSION), fetcher)
        assert link.hour == 3
        poll = ResultsPoller(store, server.url(SESSION), series="WEC", event="portal-test",
                             year=2026, fetcher=fetcher).poll_once()
    assert poll.status == "imported"
    race_id = poll.result["race_id"]
    assert len(store.table("laps", race_id)) == len(rows)
    again = backfill_race(store, None, render(rows), str(tmp_path / "x.csv"), series="WEC",
                          event="portal-test", year=2026)
    assert again.race_id == race_id


def _ms(text: str) -> int:
    from race.timefmt import parse_time_s

    return round(parse_time_s(text) * 1000)
