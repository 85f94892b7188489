"""The app in a real browser: Debian's Chromium driven by Playwright against
``streamlit run app.py`` on a free port with a temporary database.

Skipped (with the reason) when Playwright or /usr/bin/chromium is missing. One server and one
browser for the module; screenshots of every page go to ``artifacts/`` (git-ignored).
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from race.present.queries import race_state
from race.sample import load_sample_race
from race.store import RaceStore
from tests.conftest import ROOT

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "artifacts"
NAV = {"Live": "pages/live.py", "Laps": "pages/laps.py", "Stints & pits": "pages/stints.py",
       "Strategy": "pages/strategy.py", "Predictions": "pages/predictions.py",
       "Anomalies": "pages/anomalies.py", "Data": "pages/data.py"}

SERVER: dict[str, Path] = {}  # the server's log and background-video paths

pytestmark = pytest.mark.browser

try:
    from playwright.sync_api import Page, expect, sync_playwright
except ImportError:  # pragma: no cover - depends on the machine
    sync_playwright = None

if sync_playwright is None or not CHROMIUM.exists():
    pytest.skip("browser tests need Playwright for Python and Debian's Chromium at "
                f"{CHROMIUM} (apt-get install -y chromium)", allow_module_level=True)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def streamlit_on(env: dict[str, str], log_path: Path) -> Iterator[str]:
    """``streamlit run app.py`` with ``env`` over this process's environment, at a free port
    on 127.0.0.1, its output in ``log_path``; yields the address, stopped after."""
    port = free_port()
    log = log_path.open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true",
         "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
        cwd=ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1", **env}, stdout=log,
        stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.read().strip() == b"ok":
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"streamlit did not start: {log_path.read_text()}")
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@contextmanager
def chromium_page(width: int = 1400, height: int = 1000) -> Iterator[Page]:
    """One page of Debian's Chromium (headless) at ``width`` × ``height`` px."""
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        context = browser.new_context(viewport={"width": width, "height": height})
        pg = context.new_page()
        pg.set_default_timeout(30_000)
        yield pg
        context.close()
        browser.close()


def far_future_calendar(folder: Path) -> Path:
    """A calendar of one race, far ahead: the monitor idles and never fetches."""
    calendar = folder / "calendar.csv"
    calendar.write_text("series,season,event,track,start_utc,duration_h,source,feed_url,"
                        "flag_url,session\nWEC,2099,Far Future 6h,Track,2099-06-13T14:00:00Z,"
                        "6,wec,https://example.invalid/data.json,,Race\n")
    return calendar


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("browser")
    calendar = far_future_calendar(tmp)
    # The monitor on (its models job trains the sample race's model), models in tmp.
    env = {"RACE_DB": str(tmp / "race.duckdb"),
           "RACE_BACKGROUND_VIDEO": str(tmp / "background.mp4"),
           "RACE_MONITOR": "on", "RACE_CALENDAR": str(calendar),
           "RACE_MODELS_DIR": str(tmp / "models")}
    SERVER["log"] = tmp / "server.log"
    SERVER["video"] = tmp / "background.mp4"  # absent until test_07 writes it
    with streamlit_on(env, tmp / "server.log") as url:
        yield url


@pytest.fixture(scope="module")
def page(server: str) -> Iterator[Page]:
    if ARTIFACTS.exists():
        for old in ARTIFACTS.glob("*.png"):
            old.unlink()
    with chromium_page(1500, 1000) as pg:
        yield pg


@pytest.fixture(scope="module")
def expected_counts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, int]:
    """Cars per class of the default sample race, from ``race.present.queries`` on our own copy
    (the server holds its database file)."""
    tmp = tmp_path_factory.mktemp("expected")
    with RaceStore(tmp / "race.duckdb") as store:
        result = load_sample_race(store, folder=tmp)
        state = race_state(store, result.race_id)
    return {str(k): int(v) for k, v in state.standings["class"].value_counts().items()}


def settle(pg: Page) -> None:
    """Wait until the script run is over (the 'running' indicator is gone)."""
    pg.wait_for_load_state("networkidle")
    pg.wait_for_timeout(300)
    pg.locator('[data-testid="stStatusWidget"]').wait_for(state="detached", timeout=30_000)
    pg.wait_for_timeout(300)


def no_exception(pg: Page) -> None:
    assert pg.locator('[data-testid="stException"]').count() == 0, \
        pg.locator('[data-testid="stException"]').first.inner_text()


RAW = {"None", "nan", "NaN", "<NA>", "NaT"}


def no_raw_text(pg: Page) -> None:
    """No raw None / nan in the page's text (the tables' display text is checked under
    AppTest: the grid is a canvas)."""
    words = {w.strip(".,:;()[]") for w in pg.locator("body").inner_text().split()}
    assert not words & RAW, words & RAW


def shot(pg: Page, name: str) -> None:
    """Screenshot of the whole page: Streamlit scrolls inside its main block, so the
    viewport is made as tall as the content first."""
    size = pg.viewport_size
    height = pg.evaluate("""() => Math.max(...Array.from(document.querySelectorAll(
        '[data-testid="stMain"], [data-testid="stMainBlockContainer"]'),
        e => e.scrollHeight))""")
    if height > size["height"]:
        pg.set_viewport_size({"width": size["width"], "height": min(int(height) + 40, 5000)})
        pg.wait_for_timeout(800)
    pg.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    pg.set_viewport_size(size)


def test_01_deep_link_on_a_fresh_server_lands_in_the_frame(page: Page, server: str) -> None:
    page.goto(f"{server}/laps")
    settle(page)
    no_exception(page)
    # the first run of a cold server imports the app (seconds on a loaded 2-core machine)
    expect(page.get_by_role("button", name="Load sample data")).to_be_visible(timeout=30_000)


def test_02_empty_app_says_what_to_do(page: Page, server: str) -> None:
    page.goto(server)
    settle(page)
    no_exception(page)
    expect(page.get_by_text("No race in the database yet").first).to_be_visible()
    shot(page, "00-empty")


def test_03_load_sample_fills_the_leaderboard(page: Page, server: str,
                                             expected_counts: dict[str, int]) -> None:
    page.get_by_role("button", name="Load sample data").click()
    page.locator(".pw-class").first.wait_for(timeout=90_000)
    settle(page)
    no_exception(page)
    chips = page.locator(".pw-class")
    shown = {chips.nth(i).get_attribute("data-class"):
             int(chips.nth(i).get_attribute("data-cars")) for i in range(chips.count())}
    assert shown == expected_counts
    expect(page.locator('[data-testid="stDataFrame"]')).to_have_count(1)
    shot(page, "01-live")


@pytest.mark.parametrize("title", [t for t in NAV if t != "Live"])
def test_04_every_page_renders(page: Page, title: str) -> None:
    page.locator('[data-testid="stSidebarNav"]').get_by_text(title, exact=True).click()
    settle(page)
    no_exception(page)
    expect(page.get_by_role("heading", name=title).first).to_be_visible()
    no_raw_text(page)
    shot(page, f"0{list(NAV).index(title) + 1}-{Path(NAV[title]).stem}")


def test_05_focus_car_and_phone_width(page: Page, server: str) -> None:
    page.locator('[data-testid="stSidebarNav"]').get_by_text("Live", exact=True).click()
    settle(page)
    focus = page.locator('[data-testid="stSelectbox"]').filter(has_text="Focus car")
    focus.click()
    page.get_by_role("option").nth(3).click()
    settle(page)
    no_exception(page)
    shot(page, "08-live-focus")
    page.set_viewport_size({"width": 390, "height": 844})
    settle(page)
    no_exception(page)
    expect(page.locator(".pw-flag")).to_be_visible()
    shot(page, "09-live-phone")
    page.set_viewport_size({"width": 1500, "height": 1000})


def test_05b_compact_leaderboard_from_the_address(page: Page, server: str) -> None:
    """A phone's bookmark with ?layout=compact opens the compact leaderboard; the docs'
    screenshot of the Live page (docs/live.png, the sample race) is made here."""
    page.set_viewport_size({"width": 390, "height": 844})
    try:
        page.goto(f"{server}/?layout=compact")
        settle(page)
        page.locator('[data-testid="stDataFrame"]').wait_for()
        no_exception(page)
        no_raw_text(page)
        headers = page.locator('[data-testid="stDataFrame"] [role="columnheader"]')
        headers.first.wait_for(state="attached")
        page.wait_for_timeout(500)
        shown = [headers.nth(i).inner_text().strip() for i in range(headers.count())]
        assert shown and set(shown) <= {"Pos", "No.", "Class", "Driver", "Gap", "Int", "Last"}
        assert shown[:3] == ["Pos", "No.", "Class"]
        assert "layout=compact" in page.url
        shot(page, "11-live-compact-phone")
        page.set_viewport_size({"width": 1400, "height": 900})
        page.goto(server)
        settle(page)
        page.locator('[data-testid="stDataFrame"]').wait_for()
        page.wait_for_timeout(800)
        no_raw_text(page)
        if os.environ.get("RACE_DOCS_SCREENSHOT"):  # refresh the README's picture
            page.screenshot(path=str(ROOT / "docs" / "live.png"))
    finally:
        page.set_viewport_size({"width": 1500, "height": 1000})


def test_06_background_video_behind_the_content(page: Page, server: str) -> None:
    expect(page.locator("video")).to_have_count(0)
    SERVER["video"].write_bytes(b"\x00\x00\x00\x18ftypmp42")  # the browser may not play it
    try:
        page.reload()
        settle(page)
        no_exception(page)
        layer = page.locator(".st-key-pw-bg-video")
        expect(layer.locator("video")).to_have_count(1)
        style = layer.evaluate("e => [getComputedStyle(e).opacity, getComputedStyle(e).position]")
        assert style == ["0.4", "fixed"]
        # Content stays usable on top of the video.
        page.locator('[data-testid="stSidebarNav"]').get_by_text("Laps", exact=True).click()
        settle(page)
        expect(page.get_by_role("heading", name="Laps").first).to_be_visible()
        shot(page, "10-laps-with-video")
    finally:
        SERVER["video"].unlink()


RAW_MISSING = re.compile(r"\b(None|nan|NaN)\b")


def main_text(pg: Page) -> str:
    return pg.locator('[data-testid="stMain"]').inner_text()


def go(pg: Page, title: str) -> None:
    """Open a page by its address (at phone width the sidebar folds away)."""
    base = pg.url.split("/", 3)
    pg.goto(f"{base[0]}//{base[2]}/{Path(NAV[title]).stem}")
    settle(pg)
    pg.locator('[data-testid="stSidebarNav"]').wait_for(state="attached")


def test_06a_predictions_name_a_trained_model(page: Page) -> None:
    """Issue 13 item 1: the monitor trains on the sample race without a click; the page
    names the model and shows the finished race's accuracy (no next lap after the flag)."""
    go(page, "Predictions")
    deadline = time.monotonic() + 180
    while "Model: trees" not in main_text(page):
        assert time.monotonic() < deadline, main_text(page)[:2000]
        page.wait_for_timeout(2000)
    settle(page)
    no_exception(page)
    text = main_text(page)
    assert "ewma-baseline" not in text and not RAW_MISSING.search(text), text[:2000]
    assert "Race finished at" in text and "Next lap per car" not in text
    sidebar = page.locator('[data-testid="stSidebar"]').inner_text()
    assert "model trained" in sidebar and "Live monitor: idle" in sidebar
    shot(page, "11-predictions-trained-1400")
    page.set_viewport_size({"width": 390, "height": 844})
    settle(page)
    no_exception(page)
    shot(page, "12-predictions-trained-390")
    page.set_viewport_size({"width": 1400, "height": 1000})


def test_06b_a_finished_race_gets_no_pit_advice(page: Page) -> None:
    """Issue 13 item 5: Strategy after the flag: final stints, no window, no what-if."""
    go(page, "Strategy")
    no_exception(page)
    text = main_text(page)
    assert "Race finished at" in text and "Final stints and stops" in text
    assert "Pit window" not in text and "What if" not in text
    assert not RAW_MISSING.search(text), text[:2000]
    shot(page, "13-strategy-finished-1400")
    page.set_viewport_size({"width": 390, "height": 844})
    settle(page)
    shot(page, "14-strategy-finished-390")
    page.set_viewport_size({"width": 1400, "height": 1000})
    go(page, "Anomalies")
    no_exception(page)
    text = main_text(page)
    assert "the feed is final" in text and not RAW_MISSING.search(text), text[:2000]
    shot(page, "15-anomalies-finished-1400")
    page.set_viewport_size({"width": 390, "height": 844})
    settle(page)
    shot(page, "16-anomalies-finished-390")
    page.set_viewport_size({"width": 1500, "height": 1000})


def test_07_server_log_has_no_traceback(server: str) -> None:
    log = SERVER["log"].read_text()
    assert "Traceback" not in log, log[-3000:]
