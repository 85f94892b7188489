"""Past races from the results portals: a real HTTP server on 127.0.0.1 serves directory
listings of our own synthetic files, laid out as the IMSA and WEC portals are (DATA.md §4),
quirks included: hour folders with and without a number prefix, the "Analsysis" typo, older
IMSA names, support series beside the championship, a refusing portal and a JavaScript one.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote, unquote, urlparse

import pytest

from race.cli import main
from race.sources.alkamel import Link, is_lap_file
from race.sources.fetch import Fetcher
from race.sources.portal import (
    PortalRefused,
    download_and_import,
    event_name,
    list_season,
    race_files,
)
from race.store import RaceStore
from tests.lapfixture import render
from tests.live_helpers import synthetic_rows

WT = "01_IMSA WeatherTech SportsCar Championship"


def _results(rows: list[dict], sep: str = ";") -> bytes:
    last: dict[str, dict] = {}
    for row in rows:
        last[row["NUMBER"]] = row
    order = sorted(last.values(), key=lambda r: (-int(r["LAP_NUMBER"]), r["ELAPSED"]))
    head = ["POSITION", "NUMBER", "STATUS", "LAPS", "CLASS", "VEHICLE", "DRIVER1_FIRSTNAME",
            "DRIVER1_SECONDNAME", "DRIVER1_LICENSE", "DRIVER1_COUNTRY"]
    lines = [sep.join(head)]
    for pos, r in enumerate(order, 1):
        lines.append(sep.join([str(pos), r["NUMBER"], "Classified", r["LAP_NUMBER"], r["CLASS"],
                               f"Car {r['NUMBER']}", "Ann", f"Driver{r['NUMBER']}", "Gold",
                               "USA"]))
    return ("\ufeff" + "\r\n".join(lines) + "\r\n").encode()


def _weather() -> bytes:
    lines = ["TIME_UTC_SECONDS;AIR_TEMP;TRACK_TEMP;HUMIDITY;PRESSURE;WIND_SPEED;WIND_DIRECTION"]
    start = 1_737_819_600  # 2025-01-25 15:40 UTC
    lines += [f"{start + 60 * i};{70 + i % 3};{90 + i % 5};50;29.9;5;180" for i in range(30)]
    return ("\r\n".join(lines) + "\r\n").encode()


def build_portal(root: Path) -> dict[str, list[dict]]:
    """Write the portal tree under ``root``; returns the lap rows of each race by event."""
    daytona, sebring = synthetic_rows(seed=3), synthetic_rows(seed=5, cars=6, minutes=30)
    wec, old = synthetic_rows(seed=7), synthetic_rows(seed=9, cars=4, minutes=20)
    files = {
        # IMSA 2025: hour folders ("24_Hour 24"), results beside the session, weather in
        # the last hour; a qualifying session and a support series that must be skipped.
        f"imsa/Results/25_2025/01_Daytona International Speedway/{WT}/202501251340_Race/"
        "03_Results_Race_Official.CSV": _results(daytona),
        f"imsa/Results/25_2025/01_Daytona International Speedway/{WT}/202501251340_Race/"
        "03_Results_Race_Provisional.CSV": b"not even a results file",
        f"imsa/Results/25_2025/01_Daytona International Speedway/{WT}/202501251340_Race/"
        "12_Hour 12/23_Time Cards_Race_Hour 12.CSV": render(daytona[: len(daytona) // 2]),
        f"imsa/Results/25_2025/01_Daytona International Speedway/{WT}/202501251340_Race/"
        "24_Hour 24/23_Time Cards_Race_Hour 24.CSV": render(daytona),
        f"imsa/Results/25_2025/01_Daytona International Speedway/{WT}/202501251340_Race/"
        "24_Hour 24/26_Weather_Race_Hour 24.CSV": _weather(),
        f"imsa/Results/25_2025/01_Daytona International Speedway/{WT}/202501241000_Qualifying/"
        "23_Time Cards_Qualifying.CSV": render(daytona[:10]),
        "imsa/Results/25_2025/01_Daytona International Speedway/02_IMSA Michelin Pilot "
        "Challenge/202501241415_Race/23_Time Cards_Race.CSV": b"support race",
        # The final file in the session folder itself, JSON twin beside it.
        f"imsa/Results/25_2025/02_Sebring International Raceway/{WT}/202503151010_Race/"
        "23_Time Cards_Race.CSV": render(sebring),
        f"imsa/Results/25_2025/02_Sebring International Raceway/{WT}/202503151010_Race/"
        "23_Time Cards_Race.JSON": b"{}",
        f"imsa/Results/25_2025/02_Sebring International Raceway/{WT}/202503151010_Race/"
        "03_Results_Race_Official.CSV": _results(sebring),
        "imsa/Results/24_2024/01_Daytona International Speedway/x.txt": b"other season",
        # IMSA 2017: hour folders without the number prefix, the old "23_Time Cards.CSV".
        f"imsa/Results/17_2017/01_Daytona International Speedway/{WT}/201701281440_Race/"
        "Hour 9/23_Time Cards.CSV": render(old[:20]),
        f"imsa/Results/17_2017/01_Daytona International Speedway/{WT}/201701281440_Race/"
        "Hour 10/23_Time Cards.CSV": render(old),
        # WEC: "<NN_Hour N>" folders (10 above 9, not in text order), the "Analsysis" typo,
        # a flags analysis CSV that is no lap file.
        "wec/Results/13_2024/04_LE MANS/267_FIA WEC/202406151600_Race/09_Hour 9/"
        "23_Analysis_Race_Hour 9.CSV": render(wec[:100], sep=";"),
        "wec/Results/13_2024/04_LE MANS/267_FIA WEC/202406151600_Race/10_Hour 10/"
        "23_Analsysis_Race_Hour 10.CSV": render(wec, sep=";"),
        "wec/Results/13_2024/04_LE MANS/267_FIA WEC/202406151600_Race/10_Hour 10/"
        "25_FlagsAnalysis_Race_Hour 10.CSV": b"flags, not laps",
        "wec/Results/13_2024/04_LE MANS/267_FIA WEC/202406140900_Qualifying/"
        "23_Analysis_Qualifying.CSV": render(wec[:10], sep=";"),
    }
    for name, body in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
    return {"Daytona": daytona, "Sebring": sebring, "Le Mans": wec, "2017": old}


class _Portal(BaseHTTPRequestHandler):
    root: Path
    hits: Counter

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        path = unquote(urlparse(self.path).path)
        self.hits[path] += 1
        if path.startswith("/refused/"):
            return self._send(403, b"<h1>Forbidden</h1>")
        if path.startswith("/js/"):  # a page a browser's JavaScript fills
            return self._send(200, b"<html><script src='app.js'></script><select name="
                              b"'season'></select><div id='resultsTree'></div></html>")
        local = (self.root / path.lstrip("/")).resolve()
        if not str(local).startswith(str(self.root.resolve())) or not local.exists():
            return self._send(404, b"not found")
        if local.is_dir():
            if not path.endswith("/"):
                self.send_response(301)
                self.send_header("Location", quote(path) + "/")
                self.end_headers()
                return None
            rows = "".join(
                f'<tr><td><a href="{quote(p.name)}{"/" if p.is_dir() else ""}">{p.name}'
                f'</a></td><td>2025-01-26 10:00</td></tr>' for p in sorted(local.iterdir()))
            page = (f"<html><body><h1>Index of {path}</h1><table><tr><th><a href='?C=N;O=D'>"
                    f"Name</a></th></tr><tr><td><a href='../'>Parent Directory</a></td></tr>"
                    f"{rows}</table></body></html>")
            return self._send(200, page.encode())
        return self._send(200, local.read_bytes())

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def portal(tmp_path: Path):
    root = tmp_path / "portal"
    races = build_portal(root)
    handler = type("Handler", (_Portal,), {"root": root, "hits": Counter()})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield base, races, handler.hits
    finally:
        server.shutdown()
        server.server_close()


def _fetcher() -> Fetcher:
    return Fetcher(timeout_s=5, attempts=1, min_interval_s=0.0, host_interval_s=0.0)


def test_lap_file_names() -> None:
    names = {"23_Analysis_Race_Hour  6.CSV": True, "23_Analsysis_Race_Hour 10.CSV": True,
             "23_Time Cards.CSV": True, "23_Time Cards_Race.CSV": True,
             "25_FlagsAnalysis_Race.CSV": False, "23_Time Cards_Race.JSON": False,
             "03_Results_Race.CSV": False}
    assert {n: is_lap_file(Link(n, "u", False)) for n in names} == names
    assert event_name("02_Daytona International Speedway") == "Daytona International Speedway"
    assert event_name("04_LE MANS") == "Le Mans"


def test_list_a_season(portal) -> None:
    base, _, _ = portal
    races = list_season("imsa", 2025, fetcher=_fetcher(), base_url=f"{base}/imsa/Results/")
    assert [(r.event, r.session, r.date) for r in races] == [
        ("Daytona International Speedway", "Race", "2025-01-25"),
        ("Sebring International Raceway", "Race", "2025-03-15")]  # no qualifying, no support
    only = list_season("imsa", 2025, fetcher=_fetcher(), base_url=f"{base}/imsa/Results/",
                       event="sebring")
    assert [r.event for r in only] == ["Sebring International Raceway"]
    wec = list_season("WEC", 2024, fetcher=_fetcher(), base_url=f"{base}/wec/Results")
    assert [(r.series, r.event) for r in wec] == [("WEC", "Le Mans")]
    files = race_files(wec[0], _fetcher())
    assert [f.name for f in files] == ["23_Analsysis_Race_Hour 10.CSV"]  # highest hour


def test_download_and_import_a_season(portal, tmp_path: Path) -> None:
    base, rows, hits = portal
    fetcher = _fetcher()
    races = list_season("imsa", 2025, fetcher=fetcher, base_url=f"{base}/imsa/Results/")
    steps: list[tuple[float, str]] = []
    with RaceStore(tmp_path / "race.duckdb") as store:
        outcomes = download_and_import(store, races, fetcher=fetcher, root=tmp_path / "dl",
                                       progress=lambda f, t: steps.append((f, t)))
        assert [o.ok for o in outcomes] == [True, True], [o.error for o in outcomes]
        daytona, sebring = outcomes
        assert daytona.files == ["23_Time Cards_Race_Hour 24.CSV",
                                 "03_Results_Race_Official.CSV", "26_Weather_Race_Hour 24.CSV"]
        assert daytona.race_id == "imsa-2025-daytona-international-speedway-race"
        assert daytona.laps == len(rows["Daytona"])  # the last hour's file, not hour 12
        assert sebring.laps == len(rows["Sebring"])
        assert len(store.table("classification", daytona.race_id)) == 8
        assert len(store.table("weather", daytona.race_id)) == 30
        race = store.race(daytona.race_id)
        assert (race["series"], race["season"]) == ("IMSA", 2025)
        assert str(race["start_date"]).startswith("2025-01-25")
        assert steps[-1][0] == 1.0 and all(0 <= f <= 1 for f, _ in steps)
        # Once more: the files are not fetched again and the races are unchanged.
        file_hits = sum(n for p, n in hits.items() if p.lower().endswith(".csv"))
        again = download_and_import(store, races, fetcher=fetcher, root=tmp_path / "dl")
        assert [o.unchanged for o in again] == [True, True]
        assert [o.requests for o in again] == [0, 0]
        assert sum(n for p, n in hits.items() if p.lower().endswith(".csv")) == file_hits
    assert not any("Qualifying" in p or "Michelin" in p for p in hits)


def test_old_imsa_hour_folders(portal, tmp_path: Path) -> None:
    base, rows, _ = portal
    races = list_season("imsa", 2017, fetcher=_fetcher(), base_url=f"{base}/imsa/Results/")
    with RaceStore(tmp_path / "race.duckdb") as store:
        [outcome] = download_and_import(store, races, fetcher=_fetcher(), root=tmp_path / "dl")
    assert outcome.ok and outcome.files == ["23_Time Cards.CSV"]
    assert outcome.laps == len(rows["2017"])  # "Hour 10", not "Hour 9"


def test_refusing_and_javascript_portals(portal) -> None:
    base, _, _ = portal
    with pytest.raises(PortalRefused, match="refused a plain HTTP client"):
        list_season("wec", 2024, fetcher=_fetcher(), base_url=f"{base}/refused/Results/")
    with pytest.raises(PortalRefused, match="rendered by JavaScript"):
        list_season("wec", 2024, fetcher=_fetcher(), base_url=f"{base}/js/")


def test_cli_list_and_download(portal, tmp_path: Path, capsys) -> None:
    base, rows, _ = portal
    db = tmp_path / "cli.duckdb"
    code = main(["download", "--series", "wec", "--season", "2024", "--base-url",
                 f"{base}/wec/Results/", "--list", "--json", "--db", str(db), "--pause", "0"])
    listed = json.loads(capsys.readouterr().out)
    assert code == 0 and [r["event"] for r in listed] == ["Le Mans"]
    assert not db.exists()  # listing writes nothing
    code = main(["download", "--series", "wec", "--season", "2024", "--base-url",
                 f"{base}/wec/Results/", "--db", str(db), "--pause", "0.01"])
    out = capsys.readouterr().out
    assert code == 0 and "wec-2024-le-mans-race" in out, out
    assert (tmp_path / "downloads").is_dir()
    with RaceStore(db) as store:
        assert len(store.table("laps", "wec-2024-le-mans-race")) == len(rows["Le Mans"])
    code = main(["download", "--series", "wec", "--season", "2024", "--base-url",
                 f"{base}/refused/Results/", "--db", str(db), "--pause", "0"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and "refused" in err and "403" in err


def test_one_pause_between_requests_to_a_host(portal) -> None:
    base, _, _ = portal
    waits: list[float] = []
    fetcher = Fetcher(timeout_s=5, attempts=1, min_interval_s=0.0, host_interval_s=1.0,
                      sleep=waits.append)
    for path in ("/imsa/Results/", "/wec/Results/", "/imsa/Results/25_2025/"):
        fetcher.get(base + path)
    # None before the first; the fake sleep does not pass time, so the slots add up.
    assert [round(w) for w in waits] == [1, 2]


def test_data_page_lists_downloads_and_imports(portal, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.test_app import assert_clean, run_app
    from ui import download

    _navigation_only(monkeypatch)
    monkeypatch.setattr(download, "portal_fetcher", lambda *a: _fetcher())
    base, _, _ = portal
    at = run_app(tmp_path / "race.duckdb", monkeypatch, "pages/data.py")
    at.radio(key="pw_portal_series").set_value("wec").run()
    at.number_input(key="pw_portal_season").set_value(2024).run()
    at.text_input(key="pw_portal_url_wec").set_value(f"{base}/refused/Results/").run()
    at.button(key="pw_portal_list").click().run()
    assert not at.exception
    assert "refused this app" in at.error[0].value and "HTTP 403" in at.error[0].value
    at.text_input(key="pw_portal_url_wec").set_value(f"{base}/wec/Results/").run()
    at.button(key="pw_portal_list").click().run()
    assert_clean(at)
    assert at.multiselect(key="pw_portal_chosen").value == [
        f"{base}/wec/Results/13_2024/04_LE%20MANS/267_FIA%20WEC/202406151600_Race/"]
    at.button(key="pw_portal_go").click().run()
    assert_clean(at)
    assert "1 of 1 race(s) downloaded and imported" in at.success[0].value
    assert at.session_state["pw_selection"].race_id == "wec-2024-le-mans-race"


def _navigation_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """As tests/test_app.py: AppTest reruns through app.py, as the server does."""
    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.testing.v1 import app_test

    class NavigationPagesManager(PagesManager):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, **kwargs)
            PagesManager.uses_pages_directory = False

    monkeypatch.setattr(app_test, "PagesManager", NavigationPagesManager)


def test_unreachable_portal_says_so(tmp_path: Path, capsys) -> None:
    import socket

    with socket.socket() as probe:  # a free port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code = main(["download", "--series", "imsa", "--season", "2025", "--list", "--pause", "0",
                 "--base-url", f"http://127.0.0.1:{port}/Results/", "--db",
                 str(tmp_path / "x.duckdb")])
    err = capsys.readouterr().err
    assert code == 2 and "cannot reach the results portal" in err and "--base-url" in err
