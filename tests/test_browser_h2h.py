"""Head-to-head and the weather in a real browser (Debian's Chromium via Playwright,
``streamlit run app.py`` on a free port) on our lap fixture with its weather file, at 1400 px
and 390 px; screenshots ``artifacts/h2h-*.png`` (git-ignored). Skipped like
``tests/test_browser.py`` when Playwright or Chromium is missing."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from race.importer import import_lap_file
from race.store import RaceStore
from tests import lapfixture
from tests.test_browser import chromium_page, no_exception, settle, shot, streamlit_on

pytestmark = pytest.mark.browser

from playwright.sync_api import Page, expect  # noqa: E402


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("browser-h2h")
    (tmp / "race").mkdir()
    (tmp / "race" / "laps.csv").write_bytes(lapfixture.lap_file(20))
    (tmp / "race" / "weather.csv").write_bytes(lapfixture.weather_file())
    with RaceStore(tmp / "race.duckdb") as store:
        import_lap_file(store, tmp / "race" / "laps.csv")
    env = {"RACE_DB": str(tmp / "race.duckdb"), "RACE_MONITOR": "off",
           "RACE_BACKGROUND_VIDEO": str(tmp / "no-video.mp4"),
           "RACE_MODELS_DIR": str(tmp / "models")}
    with streamlit_on(env, tmp / "server.log") as url:
        yield url


@pytest.fixture(scope="module")
def page(server: str) -> Iterator[Page]:
    with chromium_page() as pg:
        yield pg


def _open(pg: Page, server: str, path: str) -> None:
    """Open a page by its address, once app.py has switched the server from folder mode
    (which lists a ``/live`` page) to ``st.navigation``."""
    pg.goto(server)
    settle(pg)
    deadline = time.monotonic() + 30
    while pg.locator('[data-testid="stSidebarNav"] a[href$="/live"]').count():
        assert time.monotonic() < deadline, "the server stayed in folder mode"
        pg.wait_for_timeout(500)
        pg.reload()
        settle(pg)
    pg.goto(f"{server}/{path}")
    settle(pg)
    pg.locator('[data-testid="stSidebarNav"]').wait_for(state="attached")


def test_01_head_to_head_page(page: Page, server: str) -> None:
    _open(page, server, "head_to_head")
    no_exception(page)
    main = page.locator('[data-testid="stMain"]')
    expect(main.get_by_text("#01 ahead by", exact=False).first).to_be_visible()
    expect(page.locator(".st-key-pw-h2h-gap")).to_be_visible()
    expect(page.locator(".st-key-pw-h2h-gap .js-plotly-plot")).to_have_count(1, timeout=20_000)
    expect(main.get_by_text("Clean-lap pace per stint")).to_be_visible()
    shot(page, "h2h-01-head-to-head-1400")
    page.get_by_role("tab", name="Lap-by-lap delta").click()
    settle(page)
    expect(page.locator(".st-key-pw-h2h-delta .js-plotly-plot")).to_have_count(1, timeout=20_000)
    page.set_viewport_size({"width": 390, "height": 844})
    settle(page)
    no_exception(page)
    shot(page, "h2h-02-head-to-head-390")
    page.set_viewport_size({"width": 1400, "height": 1000})


def test_02_weather_strip_under_the_lap_chart_and_panel(page: Page, server: str) -> None:
    _open(page, server, "laps")
    no_exception(page)
    page.get_by_role("tab", name="Lap times").click()
    settle(page)
    strip = page.locator(".st-key-pw-weather-strip .js-plotly-plot")
    expect(strip).to_have_count(1, timeout=20_000)
    chart = page.locator(".st-key-pw-lap-chart").bounding_box()
    below = page.locator(".st-key-pw-weather-strip").bounding_box()
    assert below["y"] >= chart["y"] + chart["height"] - 5  # under the lap chart
    shot(page, "h2h-03-weather-strip-1400")
    page.get_by_role("tab", name="Weather").click()
    settle(page)
    main = page.locator('[data-testid="stMain"]')
    expect(main.get_by_text("16 readings", exact=False)).to_be_visible()
    expect(page.locator('[data-testid="stMetric"]')).to_have_count(6)
    page.set_viewport_size({"width": 390, "height": 844})
    settle(page)
    no_exception(page)
    shot(page, "h2h-04-weather-panel-390")
    page.set_viewport_size({"width": 1400, "height": 1000})
