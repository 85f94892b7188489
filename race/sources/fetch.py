"""The only network code: polite HTTP fetching and recording of every raw payload.

``Fetcher`` wraps one ``requests.Session`` with a User-Agent, (connect, read) timeouts, a
fixed number of attempts a few seconds apart (3 × 5 s by default), conditional requests
(ETag / Last-Modified → 304, the cached body is reused), and a minimum interval per URL so
no caller can turn a loop into a request storm. After the last failed attempt it raises
``FetchError`` with what went wrong each time. Parsers never see URLs: they get the text.

A ``RequestProfile`` adds what one source's server expects to every request of that source
(``get(url, profile="imsa")``): extra headers, and a cache-buster query parameter set to a
fresh epoch-ms value on every request, retries included — IMSA's CDN hands its cached copy
to a repeated URL. The per-URL state (ETag, rate limit, cached body) is kept under the URL
without the cache-buster, so conditional requests and the rate limit work as for any URL.

``RawRecorder`` appends every payload of a race to ``data/raw/<race_id>/`` (gzip, one
member per poll, JSON lines) so any live session can be replayed later; a crash can only
truncate the last member, which ``read_recording`` then skips.
"""

from __future__ import annotations

import base64
import gzip
import json
import logging
import re
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

import requests

from race.errors import FetchError

log = logging.getLogger(__name__)

USER_AGENT = ("PitWall/0.1 (personal endurance-racing timing analysis; polls gently, "
              "conditional requests)")
RETRY_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RequestProfile:
    """What one source's server expects on every request.

    Attributes:
        name: the source (``imsa``).
        headers: sent with every request of the source (after the Fetcher's own).
        cache_buster: query parameter set to the request's epoch ms (unique per URL and
            strictly increasing, retries included), or None.
    """

    name: str
    headers: tuple[tuple[str, str], ...] = ()
    cache_buster: str | None = None


# IMSA live scoring (DATA.md §5): since 2026 served from a CDN that hands its cached copy to
# a repeated URL; the official page sends a fresh ``_=<epoch ms>``, its Referer/Origin and
# no-cache headers.
IMSA_PROFILE = RequestProfile(
    "imsa", headers=(("Referer", "https://www.imsa.com/scoring/"),
                     ("Origin", "https://www.imsa.com"),
                     ("Cache-Control", "no-cache"), ("Pragma", "no-cache")),
    cache_buster="_")
PROFILES: dict[str, RequestProfile] = {"imsa": IMSA_PROFILE}


def with_query_value(url: str, name: str, value: str | None) -> str:
    """``url`` with the query parameter ``name`` set to ``value`` (replacing any; None
    removes it). The other parameters keep their order and encoding."""
    parts = urlsplit(url)
    query = [p for p in parts.query.split("&") if p and p.split("=", 1)[0] != name]
    if value is not None:
        query.append(f"{name}={value}")
    return urlunsplit(parts._replace(query="&".join(query)))


@dataclass(frozen=True)
class FetchResult:
    """One fetched URL.

    Attributes:
        not_modified: the server answered 304; ``body`` is the cached previous body.
        attempts: how many requests it took (1 = first try).
        sent_url: the URL of the last request, cache-buster included (= ``url`` without
            a profile).
    """

    url: str
    status: int
    body: bytes
    fetched_at: datetime
    not_modified: bool = False
    attempts: int = 1
    seconds: float = 0.0
    sent_url: str = ""


@dataclass
class _UrlState:
    etag: str | None = None
    last_modified: str | None = None
    body: bytes | None = None
    last_request: float | None = None  # monotonic s
    last_buster_ms: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class Fetcher:
    """HTTP GET with timeouts, retries, conditional requests and a per-URL rate limit.

    Args:
        timeout_s: connect and read timeout of one attempt (s).
        attempts: tries per fetch (≥ 1) before ``FetchError``.
        retry_delay_s: pause between attempts (s).
        min_interval_s: minimum time between two requests to the same URL (s).
        host_interval_s: minimum time between two requests to the same host (s); 0 for
            live polling (one URL per feed), about 1 s when walking a results portal.
        user_agent: the User-Agent header.
        sleep: the sleep function (tests pass a fake to run instantly).
    """

    def __init__(self, *, timeout_s: float = 10.0, attempts: int = 3,
                 retry_delay_s: float = 5.0, min_interval_s: float = 2.0,
                 host_interval_s: float = 0.0, user_agent: str = USER_AGENT,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if attempts < 1:
            raise ValueError("attempts must be ≥ 1")
        self.timeout_s = timeout_s
        self.attempts = attempts
        self.retry_delay_s = retry_delay_s
        self.min_interval_s = min_interval_s
        self.host_interval_s = host_interval_s
        self.sleep = sleep
        self.session = requests.Session()
        self.session.headers.update({"User-Agent": user_agent,
                                     "Accept": "application/json, text/javascript, */*"})
        self._urls: dict[str, _UrlState] = {}
        self._hosts: dict[str, float] = {}  # host → monotonic s of its last request
        self._lock = threading.Lock()
        self.requests_sent = 0

    def close(self) -> None:
        self.session.close()

    def _state(self, url: str) -> _UrlState:
        with self._lock:
            return self._urls.setdefault(url, _UrlState())

    def _wait_turn(self, state: _UrlState, url: str) -> None:
        if state.last_request is not None:
            wait = state.last_request + self.min_interval_s - time.monotonic()
            if wait > 0:
                self.sleep(wait)
        if self.host_interval_s > 0:
            host = urlsplit(url).netloc
            with self._lock:  # reserve this host's next slot, then wait for it outside
                slot = max(time.monotonic(), self._hosts.get(host, 0.0) + self.host_interval_s)
                self._hosts[host] = slot
            wait = slot - time.monotonic()
            if wait > 0:
                self.sleep(wait)
        state.last_request = time.monotonic()

    def get(self, url: str, *, conditional: bool = True,
            profile: RequestProfile | str | None = None) -> FetchResult:
        """Fetch ``url``; retried on connection errors, timeouts, 5xx, 408 and 429.

        Args:
            url: the URL (a cache-buster parameter of the profile in it is replaced).
            conditional: send ``If-None-Match`` / ``If-Modified-Since`` when a body is cached.
            profile: a ``RequestProfile`` or a source name in ``PROFILES`` (``imsa``);
                unknown names and None send plain requests.

        Raises:
            FetchError: every attempt failed, or the server answered a client error (4xx).
        """
        if isinstance(profile, str):
            profile = PROFILES.get(profile)
        buster = profile.cache_buster if profile is not None else None
        if buster:  # the state is kept under the URL without it
            url = with_query_value(url, buster, None)
        state = self._state(url)
        problems: list[str] = []
        started = time.perf_counter()
        with state.lock:
            for attempt in range(1, self.attempts + 1):
                if attempt > 1:
                    self.sleep(self.retry_delay_s)
                self._wait_turn(state, url)
                headers = dict(profile.headers) if profile is not None else {}
                sent = url
                if buster:
                    stamp = max(time.time_ns() // 1_000_000, state.last_buster_ms + 1)
                    state.last_buster_ms = stamp
                    sent = with_query_value(url, buster, str(stamp))
                if conditional and state.body is not None:
                    if state.etag:
                        headers["If-None-Match"] = state.etag
                    if state.last_modified:
                        headers["If-Modified-Since"] = state.last_modified
                self.requests_sent += 1
                try:
                    response = self.session.get(sent, headers=headers,
                                                timeout=(self.timeout_s, self.timeout_s))
                    body = response.content  # reads fully: truncation raises here
                except requests.Timeout:
                    problems.append(f"attempt {attempt}: timed out after {self.timeout_s:g} s")
                    continue
                except requests.RequestException as exc:
                    problems.append(f"attempt {attempt}: {_short(exc)}")
                    continue
                fetched_at = datetime.now(UTC).replace(tzinfo=None)
                if response.status_code == 304 and state.body is not None:
                    return FetchResult(url, 304, state.body, fetched_at, True, attempt,
                                       time.perf_counter() - started, sent)
                if response.status_code in RETRY_STATUS:
                    problems.append(f"attempt {attempt}: HTTP {response.status_code}")
                    continue
                if response.status_code >= 400:
                    raise FetchError(f"{url}: HTTP {response.status_code} "
                                     f"{response.reason or ''}".rstrip())
                state.etag = response.headers.get("ETag")
                state.last_modified = response.headers.get("Last-Modified")
                state.body = body
                return FetchResult(url, response.status_code, body, fetched_at, False,
                                   attempt, time.perf_counter() - started, sent)
        raise FetchError(f"{url}: failed after {self.attempts} attempt(s): "
                         + "; ".join(problems))


def cached_file(fetcher: Fetcher, url: str, root: str | Path) -> tuple[Path, bool]:
    """The raw file at ``url``, kept under ``root/<host>/<path>``; fetched only when absent.

    For files that never change once published (a results portal's final lap files): a
    second download of a season sends no request for them. Returns (local path, fetched now).

    Raises:
        FetchError: the file is not cached and cannot be fetched.
    """
    parts = urlsplit(url)
    names = [_safe_name(unquote(p)) for p in parts.path.split("/") if p not in ("", ".", "..")]
    path = Path(root, _safe_name(parts.netloc), *names)
    if path.is_file() and path.stat().st_size > 0:
        return path, False
    body = fetcher.get(url, conditional=False).body
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".part")
    partial.write_bytes(body)
    partial.replace(path)  # never a half-written file under the final name
    return path, True


def _short(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    text = re.sub(r"<urllib3[^>]*>", "", text)
    return f"{type(exc).__name__}: {text[:200]}"


# -- raw payload recording -------------------------------------------------------------------
@dataclass(frozen=True)
class RawRecord:
    """One recorded poll: every payload it fetched (``main`` and, for IMSA, ``flag``)."""

    fetched_at: datetime
    source: str
    payloads: dict[str, bytes]
    urls: dict[str, str]


def _safe_name(race_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", race_id).strip("-.") or "race"


class RawRecorder:
    """Append raw payloads per race under ``root/<race_id>/`` (gzip JSON lines).

    Args:
        root: the recordings folder (``data/raw`` beside the database by default).
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self._lock = threading.Lock()

    def folder(self, race_id: str) -> Path:
        return self.root / _safe_name(race_id)

    def record(self, race_id: str, source: str, payloads: dict[str, bytes],
               urls: dict[str, str] | None = None, fetched_at: datetime | None = None) -> Path:
        """Append one poll's payloads; returns the file written."""
        fetched_at = fetched_at or datetime.now(UTC).replace(tzinfo=None)
        line = {"t": fetched_at.isoformat(), "source": source, "urls": urls or {},
                "payloads": {k: _encode(v) for k, v in payloads.items()}}
        folder = self.folder(race_id)
        path = folder / f"{source}-{fetched_at:%Y%m%d}.jsonl.gz"
        data = gzip.compress((json.dumps(line, ensure_ascii=False) + "\n").encode("utf-8"),
                             compresslevel=5)
        with self._lock:
            folder.mkdir(parents=True, exist_ok=True)
            with open(path, "ab") as handle:  # one gzip member per poll
                handle.write(data)
        return path


def _encode(body: bytes) -> dict[str, str]:
    try:
        return {"text": body.decode("utf-8")}
    except UnicodeDecodeError:
        return {"b64": base64.b64encode(body).decode("ascii")}


def _decode(item: dict[str, str]) -> bytes:
    return item["text"].encode("utf-8") if "text" in item else base64.b64decode(item["b64"])


def recording_files(folder: str | Path) -> list[Path]:
    """The recording files of one race folder, oldest first."""
    return sorted(Path(folder).glob("*.jsonl.gz"))


def read_recording(folder: str | Path) -> Iterator[RawRecord]:
    """Every recorded poll of a race folder in recording order.

    A member cut short by a crash ends its file (logged); earlier polls are all returned.
    """
    for path in recording_files(folder):
        raw = path.read_bytes()
        offset = 0
        while offset < len(raw):
            decomp = zlib.decompressobj(wbits=31)
            try:
                text = decomp.decompress(raw[offset:])
            except zlib.error as exc:
                log.warning("%s: unreadable data at byte %d (%s): rest skipped", path, offset,
                            exc)
                break
            if not decomp.eof:
                log.warning("%s: last record cut short at byte %d: skipped", path, offset)
                break
            offset = len(raw) - len(decomp.unused_data)
            for line in text.decode("utf-8").splitlines():
                if not line.strip():
                    continue
                item = json.loads(line)
                yield RawRecord(datetime.fromisoformat(item["t"]), item["source"],
                                {k: _decode(v) for k, v in item["payloads"].items()},
                                item.get("urls", {}))
