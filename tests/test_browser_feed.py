"""The race feed in a real browser (Debian's Chromium via Playwright, ``streamlit run app.py``
on a free port): the latest events beside the Live board and the Race feed page, at 1400 px
and 390 px; screenshots ``artifacts/feed-*.png`` (git-ignored). Skipped like
``tests/test_browser.py`` when Playwright or Chromium is missing."""

from __future__ import annotations

import re
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
COUNT = re.compile(r"^[\d,]+ of [\d,]+ events$")

from playwright.sync_api import Page, expect  # noqa: E402


@pytest.fixture(scope="module")
def page(server: str) -> Iterator[Page]:  # noqa: F811
    with chromium_page() as pg:
        yield pg


def test_02_latest_events_beside_the_live_board(page: Page, server: str) -> None:  # noqa: F811
    page.goto(server)
    settle(page)
    page.get_by_role("button", name="Load sample data").click()
    page.locator(".pw-class").first.wait_for(timeout=90_000)
    settle(page)
    no_exception(page)
    feed = page.locator(".pw-feed")
    expect(feed).to_be_visible()
    expect(feed.locator("li")).to_have_count(15)
    board = page.locator('[data-testid="stDataFrame"]').first.bounding_box()
    box = feed.bounding_box()
    assert box["x"] > board["x"] + board["width"] - 5  # to the right of the board
    shot(page, "feed-01-live-1400")
    page.set_viewport_size({"width": 390, "height": 844})
    settle(page)
    no_exception(page)
    expect(feed).to_be_visible()
    shot(page, "feed-02-live-390")
    page.set_viewport_size({"width": 1400, "height": 1000})


def test_03_race_feed_page_and_its_filters(page: Page) -> None:
    page.locator('[data-testid="stSidebarNav"]').get_by_text("Race feed", exact=True).click()
    settle(page)
    no_exception(page)
    expect(page.get_by_role("heading", name="Race feed").first).to_be_visible()
    expect(page.locator('[data-testid="stDataFrame"]')).to_have_count(1)
    caption = page.get_by_text(COUNT).first.inner_text()
    total = caption.split(" of ")[-1]
    kinds = page.locator('[data-testid="stMultiSelect"]').filter(has_text="Kinds")
    kinds.click()
    page.get_by_role("option", name="Pit in").click()
    page.keyboard.press("Escape")
    settle(page)
    no_exception(page)
    caption = page.get_by_text(COUNT).first.inner_text()
    assert caption.split(" of ")[-1] == total and caption.split(" of ")[0] != total
    shot(page, "feed-03-page-1400")
    page.set_viewport_size({"width": 390, "height": 844})
    settle(page)
    no_exception(page)
    shot(page, "feed-04-page-390")
    page.set_viewport_size({"width": 1400, "height": 1000})
