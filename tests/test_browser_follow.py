"""Followed cars, TV delay and shared links in a real browser (Debian's Chromium via
Playwright, ``streamlit run app.py`` on a free port, as ``tests/test_browser.py``): a pasted
link with race, classes, focus, followed cars and delay opens that view (sidebar and Live
page), a reload keeps the stars, Sync sets the delay, a link to /laps opens the Laps page.
Screenshots ``artifacts/follow-*.png`` (git-ignored) at 1400 px and 390 px."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from race.present.presentation import clock_text
from race.sample import load_sample_race
from race.store import RaceStore
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


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """The default sample race's id and cars, from our own copy (the server holds its file)."""
    tmp = tmp_path_factory.mktemp("follow-sample")
    with RaceStore(tmp / "race.duckdb") as store:
        result = load_sample_race(store, folder=tmp)
        cars = store.table("cars", result.race_id)
        end_s = float(store.table("laps", result.race_id, ["elapsed_s"])["elapsed_s"].max())
    by_class = {c: sorted(g["number"], key=lambda n: (int(n), n))
                for c, g in cars.groupby("class")}
    return {"race_id": result.race_id, "by_class": by_class, "end_s": end_s}


def params(pg: Page) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(urlsplit(pg.url).query).items()}


def sidebar_widget(pg: Page, kind: str, label: str):
    return pg.locator('[data-testid="stSidebar"]').locator(
        f'[data-testid="{kind}"]').filter(has_text=label)


def test_00_link_to_a_page_on_a_fresh_server_opens_that_page(page: Page,
                                                              server: str) -> None:  # noqa: F811
    # Streamlit serves the first /laps of a fresh server in its pages-folder mode: the page
    # goes through app.py (the frame) and comes back with its query string.
    page.goto(f"{server}/laps?layout=compact")
    settle(page)
    no_exception(page)
    expect(page.get_by_role("heading", name="Laps").first).to_be_visible(timeout=30_000)
    assert urlsplit(page.url).path == "/laps" and params(page) == {"layout": "compact"}


def test_01_shared_link_opens_the_view(page: Page, server: str,  # noqa: F811
                                       sample: dict[str, object]) -> None:
    page.goto(server)
    settle(page)
    page.get_by_role("button", name="Load sample data").click()
    page.locator(".pw-class").first.wait_for(timeout=90_000)
    settle(page)
    assert params(page)["race"] == sample["race_id"]  # the address follows the sidebar
    by_class: dict[str, list[str]] = sample["by_class"]  # type: ignore[assignment]
    classes = [c for c in ("LMP2", "LMGT3") if c in by_class] or list(by_class)[:2]
    focus = by_class[classes[0]][0]
    follow = [by_class[classes[0]][1], by_class[classes[-1]][0]]
    link = {"race": sample["race_id"], "classes": ",".join(classes), "focus": focus,
            "follow": ",".join(follow), "delay": "60"}
    page.goto(f"{server}/?{urlencode(link, safe=',')}")
    settle(page)
    no_exception(page)
    expect(page.locator('[data-testid="stAlertContentWarning"]')).to_have_count(0)
    # the sidebar holds the link's view
    chosen = sidebar_widget(page, "stMultiSelect", "Classes")
    for cls in classes:
        expect(chosen).to_contain_text(cls)
    stars = sidebar_widget(page, "stMultiSelect", "Followed cars")
    for number in follow:
        expect(stars).to_contain_text(f"#{number} ·")
    expect(sidebar_widget(page, "stSelectbox", "Focus car").get_by_role("combobox")
           ).to_have_value(re.compile(f"^#{re.escape(focus)} ·"))
    expect(sidebar_widget(page, "stNumberInput", "TV delay").locator("input")
           ).to_have_value("60")
    expect(page.locator('[data-testid="stSidebar"]').get_by_text("60 s behind now")
           ).to_be_visible()
    # the Live page shows those classes only, as of now − 60
    chips = page.locator(".pw-class")
    expect(chips).to_have_count(len(classes))
    assert {chips.nth(i).get_attribute("data-class") for i in range(len(classes))} == \
        set(classes)
    # the banner's race clock is the latest crossing − 60 s
    banner = page.locator(".pw-flag")
    expect(banner).to_contain_text("TV delay 60 s")
    expect(banner).to_contain_text(f"elapsed {clock_text(sample['end_s'] - 60)}")
    assert params(page) == link
    shot(page, "follow-01-live-1400")
    page.set_viewport_size({"width": 390, "height": 844})
    settle(page)
    no_exception(page)
    shot(page, "follow-02-live-390")
    page.set_viewport_size({"width": 1400, "height": 1000})


def test_02_reload_keeps_the_stars(page: Page, sample: dict[str, object]) -> None:
    before = params(page)
    page.reload()
    settle(page)
    no_exception(page)
    assert params(page) == before
    stars = sidebar_widget(page, "stMultiSelect", "Followed cars")
    for number in before["follow"].split(","):
        expect(stars).to_contain_text(f"#{number} ·")


def test_03_sync_sets_the_delay(page: Page) -> None:
    sidebar = page.locator('[data-testid="stSidebar"]')
    sidebar.get_by_text("Sync with the TV").click()
    sidebar.get_by_role("button", name="Sync: this car is crossing the line on TV now").click()
    settle(page)
    no_exception(page)
    expect(sidebar.get_by_text("crossed the line at")).to_be_visible()
    value = int(sidebar_widget(page, "stNumberInput", "TV delay").locator("input")
                .input_value())
    assert 0 <= value <= 180
    assert int(params(page).get("delay", "0")) == value


def test_04_link_to_another_page(page: Page, server: str,  # noqa: F811
                                 sample: dict[str, object]) -> None:
    follow = params(page)["follow"]
    page.goto(f"{server}/laps?race={sample['race_id']}&follow={follow}&delay=30")
    settle(page)
    no_exception(page)
    expect(page.get_by_role("heading", name="Laps").first).to_be_visible()
    expect(sidebar_widget(page, "stNumberInput", "TV delay").locator("input")
           ).to_have_value("30")
    assert params(page)["follow"] == follow and urlsplit(page.url).path == "/laps"
    # moving to another page keeps the view in the address
    page.locator('[data-testid="stSidebarNav"]').get_by_text("Strategy", exact=True).click()
    settle(page)
    no_exception(page)
    assert urlsplit(page.url).path == "/strategy"
    assert params(page)["follow"] == follow and params(page)["delay"] == "30"


def test_05_bad_link_is_a_warning_not_a_traceback(page: Page, server: str,  # noqa: F811
                                                   sample: dict[str, object]) -> None:
    page.goto(f"{server}/?race=no-such-race&focus=[x](http://example.invalid)&delay=soon")
    settle(page)
    no_exception(page)
    warnings = page.locator('[data-testid="stAlertContentWarning"]')
    expect(warnings.filter(has_text="Link parameter race")).to_have_count(1)
    expect(warnings.filter(has_text="Link parameter delay")).to_have_count(1)
    expect(warnings.filter(has_text="Link parameter focus")).to_contain_text("[x](http")
    expect(page.locator(".pw-class").first).to_be_visible()  # the default race instead
    assert params(page)["race"] == sample["race_id"]
