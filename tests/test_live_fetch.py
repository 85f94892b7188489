"""The one network module: retries, timeouts, client errors, conditional requests, the
per-URL rate limit, the User-Agent, and raw payload recording (crash-tolerant)."""

from __future__ import annotations

import gzip
from datetime import datetime

import pytest

from race.errors import FetchError
from race.sources.fetch import USER_AGENT, Fetcher, RawRecorder, read_recording
from tests.live_helpers import FeedServer, FeedState

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
