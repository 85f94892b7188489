"""The track-position ring on the Live page in a real browser (Debian's Chromium via
Playwright, ``streamlit run app.py`` on a free port), at 1400 px and 390 px; screenshots
``artifacts/ring-*.png`` (git-ignored). Skipped like ``tests/test_browser.py`` when
Playwright or Chromium is missing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.test_browser import (  # noqa: F401  (the server fixture)
    ARTIFACTS,
    chromium_page,
    no_exception,
    server,
    settle,
    shot,
)

pytestmark = pytest.mark.browser

from playwright.sync_api import Page, expect  # noqa: E402


@pytest.fixture(scope="module")
def page(server: str) -> Iterator[Page]:  # noqa: F811
    with chromium_page() as pg:
        yield pg


def test_live_page_shows_the_ring(page: Page, server: str) -> None:  # noqa: F811
    page.goto(server)
    settle(page)
    page.get_by_role("button", name="Load sample data").click()
    page.locator(".pw-class").first.wait_for(timeout=90_000)
    settle(page)
    no_exception(page)
    expect(page.get_by_text("Track position", exact=True)).to_be_visible()
    ring = page.locator(".js-plotly-plot").first
    expect(ring).to_be_visible()
    expect(ring.get_by_text("Pit lane")).to_have_count(1)
    # one marker per car drawn, in class colours (the sample race: several classes)
    assert ring.locator(".scatterlayer .point").count() >= 10
    box, board = ring.bounding_box(), page.locator('[data-testid="stDataFrame"]').first
    assert box["x"] > board.bounding_box()["x"] + board.bounding_box()["width"] - 5
    assert abs(box["width"] - box["height"]) < box["width"]  # a ring, not a strip
    shot(page, "ring-01-live-1400")
    page.set_viewport_size({"width": 390, "height": 844})
    settle(page)
    no_exception(page)
    expect(ring).to_be_visible()
    shot(page, "ring-02-live-390")
    page.set_viewport_size({"width": 1400, "height": 1000})
