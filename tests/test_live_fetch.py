"""The one network module: retries, timeouts, client errors, conditional requests, the
per-URL rate limit, the User-Agent, the IMSA request profile behind a caching CDN
(cache-buster, Referer/Origin, no-cache), and raw payload recording (crash-tolerant)."""

from __future__ import annotations

import gzip
import time
from datetime import datetime

import pytest

from race.errors import FetchError
from race.sources.fetch import (
    IMSA_PROFILE,
    USER_AGENT,
    Fetcher,
    RawRecorder,
    RequestProfile,
    read_recording,
    with_query_value,
)
from tests.live_helpers import CachingFeedServer, FeedServer, FeedState, cache_busters

PATH = "/feed.json"


@pytest.fixture
def server():
    state = FeedState(timeout_sleep_s=0.6)
    state.files[PATH] = b'{"params": {}, "entries": []}'
    with FeedServer(state) as srv:
        yield srv


def make(sleeps: list[float], **kw: object) -> Fetcher:
    options = {"timeout_s": 0.3, "attempts": 3, "retry_delay_s": 5.0, "min_interval_s": 0.0}
    options.update(kw)
    return Fetcher(sleep=sleeps.append, **options)


def test_retries_then_succeeds(server: FeedServer) -> None:
    sleeps: list[float] = []
    server.state.add_fault(PATH, "500", "reset")
    result = make(sleeps).get(server.url(PATH))
    assert result.status == 200 and result.attempts == 3
    assert sleeps == [5.0, 5.0]  # 3 attempts, 5 s apart by default
    assert [r[1] for r in server.state.requests] == ["500", "reset", "ok"]


def test_timeouts_and_truncated_transfers_are_retried(server: FeedServer) -> None:
    server.state.add_fault(PATH, "timeout", "short-read")
    result = make([]).get(server.url(PATH))
    assert result.attempts == 3 and result.body.startswith(b'{"params"')


def test_fetch_error_after_the_last_attempt(server: FeedServer) -> None:
    server.state.add_fault(PATH, "500", "500", "500")
    with pytest.raises(FetchError, match=r"failed after 3 attempt.*HTTP 500"):
        make([]).get(server.url(PATH))


def test_client_errors_are_not_retried(server: FeedServer) -> None:
    server.state.add_fault(PATH, "404")
    with pytest.raises(FetchError, match="HTTP 404"):
        make([]).get(server.url(PATH))
    assert len(server.state.requests) == 1


def test_conditional_requests_and_user_agent(server: FeedServer) -> None:
    fetcher = make([])
    first = fetcher.get(server.url(PATH))
    second = fetcher.get(server.url(PATH))
    assert not first.not_modified and second.not_modified and second.status == 304
    assert second.body == first.body
    headers = server.state.requests[-1][2]
    assert headers.get("If-None-Match") and headers.get("User-Agent") == USER_AGENT


def test_no_request_storm(server: FeedServer) -> None:
    sleeps: list[float] = []
    fetcher = make(sleeps, min_interval_s=2.0)
    for _ in range(3):
        fetcher.get(server.url(PATH))
    assert len(sleeps) == 2 and all(1.5 < s <= 2.0 for s in sleeps)


@pytest.fixture
def cdn():
    state = FeedState(timeout_sleep_s=0.6)
    state.files[PATH] = b'jsonpRaceResults({"B": [], "DT": "14:00:00"});'
    with CachingFeedServer(state) as srv:
        yield srv


def test_query_values() -> None:
    assert with_query_value("https://h/R.json?callback=cb", "_", "5") == \
        "https://h/R.json?callback=cb&_=5"
    assert with_query_value("https://h/R.json?_=1&callback=cb", "_", "7") == \
        "https://h/R.json?callback=cb&_=7"
    assert with_query_value("https://h/R.json?callback=cb&_=1", "_", None) == \
        "https://h/R.json?callback=cb"
    assert with_query_value("https://h/R.json", "_", "9") == "https://h/R.json?_=9"


def test_imsa_profile_sends_a_fresh_cache_buster_on_every_request(cdn) -> None:
    """Each request, retries included, carries ``_=<epoch ms>`` never sent before, the
    official page's Referer/Origin and no-cache headers; the callback stays."""
    cdn.state.add_fault(PATH, "500", "reset")
    before_ms = int(time.time() * 1000)
    fetcher = make([])
    result = fetcher.get(cdn.url(PATH) + "?callback=jsonpRaceResults&_=123", profile="imsa")
    assert result.status == 200 and result.attempts == 3
    assert [r[1] for r in cdn.state.requests] == ["500", "reset", "ok"]
    busters = [int(b) for b in cache_busters(cdn.state, PATH)]
    assert len(set(busters)) == 3 and busters == sorted(busters) and busters[0] >= before_ms
    assert all("callback=jsonpRaceResults" in u for u in cdn.state.urls)
    assert result.url == cdn.url(PATH) + "?callback=jsonpRaceResults"  # as asked, no _
    assert result.sent_url.endswith(f"&_={busters[-1]}")
    for _, _, headers in cdn.state.requests:
        assert headers["Referer"] == "https://www.imsa.com/scoring/"
        assert headers["Origin"] == "https://www.imsa.com"
        assert headers["Cache-Control"] == "no-cache" and headers["Pragma"] == "no-cache"
        assert headers["User-Agent"] == USER_AGENT
    # five requests, five values (one more than the last even within the same ms)
    fetcher.get(cdn.url(PATH), profile=IMSA_PROFILE)
    fetcher.get(cdn.url(PATH), profile=IMSA_PROFILE)
    busters = cache_busters(cdn.state, PATH)
    assert len(set(busters)) == len(busters) == 5


def test_the_cdn_hands_a_repeated_url_its_cached_copy(cdn) -> None:
    """What the 2026 feed does to a client without the cache-buster: the first body for
    ever. With the IMSA profile every poll reaches the origin."""
    plain = RequestProfile("plain", headers=IMSA_PROFILE.headers)  # headers, no buster
    fetcher = make([])
    first = fetcher.get(cdn.url(PATH), profile=plain, conditional=False)
    cdn.state.files[PATH] = b'jsonpRaceResults({"B": [], "DT": "14:00:10"});'
    again = fetcher.get(cdn.url(PATH), profile=plain, conditional=False)
    assert again.body == first.body and cdn.state.cdn_hits == 1
    fresh = make([]).get(cdn.url(PATH), profile="imsa")
    assert b"14:00:10" in fresh.body and cdn.state.cdn_hits == 1


def test_the_cdn_refuses_requests_without_the_official_headers(cdn) -> None:
    with pytest.raises(FetchError, match="HTTP 403"):
        make([]).get(cdn.url(PATH))  # no profile: no Referer/Origin
    with pytest.raises(FetchError, match="HTTP 403"):
        make([]).get(cdn.url(PATH), profile="wec")  # another source's profile: none
    assert [r[1] for r in cdn.state.requests] == ["forbidden"] * 2  # 4xx: not retried


def test_conditional_requests_and_rate_limit_across_cache_busters(cdn) -> None:
    """The per-URL state is kept under the URL without ``_``: the ETag of the last body is
    sent (a 304 reuses it) and the minimum interval holds, though every URL differs."""
    sleeps: list[float] = []
    fetcher = make(sleeps, min_interval_s=2.0)
    first = fetcher.get(cdn.url(PATH), profile="imsa")
    second = fetcher.get(cdn.url(PATH), profile="imsa")
    assert second.not_modified and second.status == 304 and second.body == first.body
    assert cdn.state.requests[-1][2].get("If-None-Match")
    assert len(sleeps) == 1 and 1.5 < sleeps[0] <= 2.0
    cdn.state.files[PATH] = b'jsonpRaceResults({"B": [], "DT": "14:00:20"});'
    third = fetcher.get(cdn.url(PATH), profile="imsa")
    assert not third.not_modified and b"14:00:20" in third.body


def test_recording_round_trip_and_a_cut_last_record(tmp_path) -> None:
    recorder = RawRecorder(tmp_path)
    for i in range(3):
        recorder.record("wec-2026-x", "imsa", {"main": f"poll {i}".encode(),
                                                "flag": b"\xff\xfebinary"},
                        fetched_at=datetime(2026, 6, 13, 14, 0, i))
    folder = recorder.folder("wec-2026-x")
    records = list(read_recording(folder))
    assert [r.payloads["main"] for r in records] == [b"poll 0", b"poll 1", b"poll 2"]
    assert records[0].payloads["flag"] == b"\xff\xfebinary"
    path = next(folder.glob("*.jsonl.gz"))
    data = path.read_bytes()
    member = len(gzip.compress(b"x"))  # cut the last record short, as a crash would
    path.write_bytes(data[: len(data) - member // 2])
    assert [r.payloads["main"] for r in read_recording(folder)] == [b"poll 0", b"poll 1"]
