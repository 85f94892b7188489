"""Al Kamel results portals: find the newest official lap file of a session and bring it in.

The portals (DATA.md §4) are plain HTML directory listings. During a race the "Analysis"
(WEC) / "Time Cards" (IMSA) CSV is published hour by hour, in ``Hour <N>`` folders, with
inconsistent names (typos, double spaces), so links are discovered by parsing the listing
with BeautifulSoup, never built. ``parse_listing`` and ``pick_lap_file`` are pure;
``ResultsPoller`` fetches through ``race.sources.fetch`` and hands the CSV to
``race.live.backfill`` (which imports it, or merges it into the race followed live so the
laps the feed missed get their exact times).
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from urllib.parse import unquote, urljoin, urlparse

from bs4 import BeautifulSoup

from race.errors import FetchError, NotFoundError
from race.sources.fetch import Fetcher

log = logging.getLogger(__name__)

_HOUR = re.compile(r"hour[\s_]*(\d+)", re.I)
# "23_Analysis_Race_Hour 6.CSV", "23_Analsysis…" (a typo the portal has), "23_Time Cards.CSV";
# not "25_FlagsAnalysis…".
_LAP_FILE = re.compile(r"^(?:\d+[_ ]+)?\s*(?:anal[a-z]*sis|time[\s_]*cards?)", re.I)


@dataclass(frozen=True)
class Link:
    """One entry of a directory listing."""

    name: str
    url: str
    is_dir: bool

    @property
    def hour(self) -> int | None:
        match = _HOUR.search(self.name)
        return int(match.group(1)) if match else None


def parse_listing(html: str | bytes, base_url: str) -> list[Link]:
    """The files and folders a directory-listing page links to (sort links, the parent
    folder and links leaving the folder are left out)."""
    soup = BeautifulSoup(html, "html.parser")
    base = base_url if base_url.endswith("/") else base_url + "/"
    base_path = urlparse(base).path
    links: list[Link] = []
    seen: set[str] = set()
    for anchor in soup.find_all("a", href=True):
        href = str(anchor["href"]).strip()
        if not href or href.startswith(("?", "#", "mailto:", "javascript:")):
            continue
        url = urljoin(base, href)
        path = urlparse(url).path
        if not unquote(path).startswith(unquote(base_path)) or path == base_path:
            continue  # parent folder, site navigation
        if url in seen:
            continue
        seen.add(url)
        is_dir = path.endswith("/")
        name = unquote(path.rstrip("/").rsplit("/", 1)[-1]) or anchor.get_text(strip=True)
        links.append(Link(name=name, url=url, is_dir=is_dir))
    return links


def is_lap_file(link: Link) -> bool:
    """An official lap file: an "Analysis" or "Time Cards" CSV (any spacing or case, the
    "Analsysis" typo too)."""
    return (not link.is_dir and link.name.lower().endswith(".csv")
            and bool(_LAP_FILE.match(link.name)))


def pick_lap_file(links: list[Link]) -> Link | None:
    """The best lap file of one listing: a final (hour-less) file first, else the highest
    hour; race sessions before others."""
    files = [link for link in links if is_lap_file(link)]
    if not files:
        return None
    return max(files, key=lambda f: ("race" in f.name.lower(), f.hour is None,
                                     f.hour or 0, f.name))


def hour_folders(links: list[Link]) -> list[Link]:
    """``Hour <N>`` folders, highest hour first."""
    return sorted((link for link in links if link.is_dir and link.hour is not None),
                  key=lambda link: link.hour or 0, reverse=True)


def newest_lap_file(session_url: str, fetcher: Fetcher) -> Link:
    """Find the newest lap file of a session folder (its own files, else its hour folders).

    Raises:
        NotFoundError: no lap file is published yet.
        FetchError: the portal cannot be reached.
    """
    links = parse_listing(fetcher.get(session_url).body, session_url)
    top = pick_lap_file(links)
    if top is not None and top.hour is None:
        return top  # the final file, published after the race
    for folder in hour_folders(links):
        found = pick_lap_file(parse_listing(fetcher.get(folder.url).body, folder.url))
        if found is not None:
            return found
    if top is not None:
        return top
    raise NotFoundError(f"{session_url}: no Analysis / Time Cards CSV published yet")


@dataclass
class PortalPoll:
    """The outcome of one results-portal poll."""

    status: str  # unchanged | backfilled | imported | no-file | fetch-error
    url: str | None = None
    message: str = ""
    result: dict | None = None


class ResultsPoller:
    """Poll a session folder of a results portal; bring each new lap file in.

    Args:
        store: the database.
        session_url: the session's folder (``…/<yyyyMMddHHmm_Race>/``).
        race_id: the live race to backfill (None: import as an official race).
        series, event, year: naming of an official import.
    """

    def __init__(self, store, session_url: str, *, race_id: str | None = None,
                 series: str | None = None, event: str | None = None,
                 year: int | None = None, fetcher: Fetcher | None = None) -> None:
        self.store = store
        self.session_url = session_url if session_url.endswith("/") else session_url + "/"
        self.race_id = race_id
        self.series, self.event, self.year = series, event, year
        self.fetcher = fetcher or Fetcher()
        self._last: tuple[str, str] | None = None  # (url, sha256) of the last file taken

    def poll_once(self) -> PortalPoll:
        from race.live.backfill import backfill_race

        try:
            link = newest_lap_file(self.session_url, self.fetcher)
            data = self.fetcher.get(link.url).body
        except NotFoundError as exc:
            return PortalPoll("no-file", message=str(exc))
        except FetchError as exc:
            self.store.log_ingest(kind="backfill", source=self.session_url,
                                  status="fetch-error", race_id=self.race_id,
                                  message=str(exc))
            return PortalPoll("fetch-error", message=str(exc))
        digest = hashlib.sha256(data).hexdigest()
        if self._last == (link.url, digest):
            return PortalPoll("unchanged", link.url, "same file as last time")
        result = backfill_race(self.store, self.race_id, data, link.name,
                               series=self.series, event=self.event, year=self.year)
        self._last = (link.url, digest)
        return PortalPoll(result.status, link.url, f"{link.name}: {result.laps} laps",
                          result.as_json())
