"""The many-viewers deployment end to end, all on 127.0.0.1: ``deploy/run-local.sh 2
--replay FILE`` starts the publisher (a synthetic 40-minute race replayed at 30×, publishing
a snapshot at most every second), 2 read-only replicas and nginx; 10 Chromium sessions (one
browser, 10 contexts, so 10 route cookies) open the app through nginx.

Checked: every session shows the data version the publisher stored within 15 s of storing
it (the sidebar's "Read-only replica · data version N"), measured once the sessions' first
runs are over (they catch up first, within a page load's 60 s); after one replica is killed, the
sessions on the other go on updating without a reload, and a reload of each session the dead
one served lands on the live replica and shows a current version.

Skipped, with the reason, when nginx, Playwright or Chromium is missing. Runtime: about 45 s
on a quiet 2-core machine (the figures are printed with ``-s``); much more under load.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from race.store import Snapshot, read_snapshot
from tests.conftest import ROOT
from tests.lapfixture import render
from tests.live_helpers import synthetic_rows

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
NGINX = Path(shutil.which("nginx") or "/usr/sbin/nginx")
SESSIONS = 10
LAG_BUDGET_S = 15.0
VERSION = re.compile(r"data version (\d+)")

try:
    from playwright.sync_api import Page, sync_playwright
except ImportError:  # pragma: no cover - depends on the machine
    sync_playwright = None

if sync_playwright is None or not CHROMIUM.exists() or not NGINX.exists():
    pytest.skip("the deployment test needs Playwright for Python, Debian's Chromium at "
                f"{CHROMIUM} and nginx at {NGINX} (apt-get install -y chromium nginx)",
                allow_module_level=True)


def free_ports(n: int) -> list[int]:
    """``n`` consecutive free ports (the replicas take FIRST_REPLICA_PORT and the next)."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            base = s.getsockname()[1]
        if base + n > 65535:
            continue
        sockets = []
        try:
            for port in range(base, base + n):
                s = socket.socket()
                sockets.append(s)
                s.bind(("127.0.0.1", port))
            return list(range(base, base + n))
        except OSError:
            continue
        finally:
            for s in sockets:
                s.close()
    raise RuntimeError("no free ports")


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
            return r.read().strip() == b"ok"
    except OSError:
        return False


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    tmp = tmp_path_factory.mktemp("deploy")
    laps = tmp / "wec" / "2026" / "e2e" / "laps.csv"
    laps.parent.mkdir(parents=True)
    laps.write_bytes(render(synthetic_rows(minutes=40)))
    nginx_port, first = free_ports(1)[0], None
    while first is None or nginx_port in (first, first + 1):
        first = free_ports(2)[0]
    run = tmp / "run"
    env = {**os.environ, "PITWALL_RUN": str(run), "PORT": str(nginx_port),
           "FIRST_REPLICA_PORT": str(first), "PYTHON": sys.executable, "NGINX": str(NGINX),
           "RACE_DB": str(tmp / "race.duckdb"), "RACE_MODELS_DIR": str(tmp / "models"),
           "RACE_BACKGROUND_VIDEO": str(tmp / "no-video.mp4"), "SPEED": "30",
           "PUBLISH_EVERY": "1", "PYTHONUNBUFFERED": "1"}
    out = (tmp / "run-local.out").open("w")
    script = subprocess.Popen(["bash", str(ROOT / "deploy" / "run-local.sh"), "2",
                               "--replay", str(laps)], cwd=ROOT, env=env, stdout=out,
                              stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{nginx_port}"
    started = time.monotonic()
    try:
        deadline = time.monotonic() + 60
        while "Pit Wall: http" not in (tmp / "run-local.out").read_text():
            if script.poll() is not None or time.monotonic() > deadline:
                logs = "\n".join(f"== {p.name}\n{p.read_text()[-2000:]}"
                                 for p in [tmp / "run-local.out", *run.glob("*.log")])
                raise RuntimeError(f"deploy/run-local.sh did not start:\n{logs}")
            time.sleep(0.3)
        print(f"\npublisher, 2 replicas and nginx up in {time.monotonic() - started:.1f} s")
        yield {"url": url, "run": run, "snapshots": run / "snapshots",
               "replicas": [f"127.0.0.1:{first}", f"127.0.0.1:{first + 1}"]}
    finally:
        os.killpg(script.pid, signal.SIGINT)  # as Ctrl-C: the script stops all it started
        try:
            script.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(script.pid, signal.SIGKILL)
            script.wait()
        out.close()


def nginx_logs(run: Path) -> str:
    """The end of nginx's error log and its answers other than 200 (for a failure)."""
    errors = (run / "nginx" / "error.log").read_text()[-3000:]
    answers = [line for line in (run / "nginx" / "access.log").read_text().splitlines()
               if '" 200 ' not in line and '" 101 ' not in line]
    return f"error.log:\n{errors}\naccess.log (not 200/101):\n" + "\n".join(answers[-20:])


def shown_version(page: Page) -> int | None:
    caption = page.locator('[data-testid="stSidebar"]').get_by_text(VERSION).first
    try:
        found = VERSION.search(caption.inner_text(timeout=1000))
    except Exception:  # not rendered yet, or the page is reconnecting
        return None
    return int(found.group(1)) if found else None


# Each page notes, itself, the wall-clock time (s since the epoch, the same clock as the
# snapshot's ``published_unix``) its sidebar first showed a data version ≥ the target: the
# lag measured does not include Playwright's round trips, which take seconds per page when
# 10 pages and 2 replicas share 2 cores.
WATCH_JS = """(target) => {
  const key = String(target);
  window.__pwSeen = window.__pwSeen || {};
  const check = () => {
    if (key in window.__pwSeen) return;
    const side = document.querySelector('[data-testid="stSidebar"]');
    const found = side && side.innerText.match(/data version (\\d+)/);
    if (found && Number(found[1]) >= target) window.__pwSeen[key] = Date.now() / 1000;
  };
  check();
  new MutationObserver(check).observe(document.body,
      {subtree: true, childList: true, characterData: true});
}"""
SEEN_JS = "(target) => (window.__pwSeen || {})[String(target)] ?? null"


def wait_all_show(pages: list[Page], target: Snapshot, budget_s: float = LAG_BUDGET_S) -> float:
    """Seconds from the publisher storing ``target`` until the last page showed it (or a
    newer version), as each page noted it; fails past ``budget_s``."""
    for page in pages:
        page.evaluate(WATCH_JS, target.version)
    seen: dict[int, float] = {}
    deadline = time.time() + budget_s + 30  # time to read the notes, not part of the lag
    while len(seen) < len(pages) and time.time() < deadline:
        for i in sorted(set(range(len(pages))) - set(seen)):
            at = pages[i].evaluate(SEEN_JS, target.version)
            if at is not None:
                seen[i] = float(at)
        if len(seen) < len(pages):
            pages[0].wait_for_timeout(250)
    waiting = sorted(set(range(len(pages))) - set(seen))
    assert not waiting, (f"sessions {waiting} still show "
                         f"{[shown_version(pages[i]) for i in waiting]} "
                         f"{time.time() - target.published_unix:.0f} s after version "
                         f"{target.version} was stored")
    lags = {i: at - target.published_unix for i, at in seen.items()}
    worst = max(lags.values())
    assert worst <= budget_s, (f"version {target.version} reached the last session "
                               f"{worst:.1f} s after it was stored (budget {budget_s:.0f} s); "
                               f"per session: {[round(lags[i], 1) for i in sorted(lags)]}")
    return worst


def wait_all_loaded(pages: list[Page], timeout_s: float = 60.0) -> None:
    """Until every page shows a data version (the app ran once in each session)."""
    deadline = time.monotonic() + timeout_s
    waiting = set(range(len(pages)))
    while waiting and time.monotonic() < deadline:
        waiting = {i for i in waiting if shown_version(pages[i]) is None}
        if waiting:
            pages[0].wait_for_timeout(250)
    assert not waiting, f"sessions {sorted(waiting)} show no data version after {timeout_s} s"


def newer_snapshot(folder: Path, than: int, timeout_s: float = 10.0) -> Snapshot:
    """The next snapshot the publisher stores after version ``than`` (or the last one, once
    the replay is over)."""
    deadline = time.monotonic() + timeout_s
    snapshot = read_snapshot(folder)
    while snapshot is not None and snapshot.version <= than and time.monotonic() < deadline:
        time.sleep(0.1)
        snapshot = read_snapshot(folder)
    assert snapshot is not None
    return snapshot


def test_ten_sessions_two_replicas_one_killed(deployment: dict) -> None:
    started = time.monotonic()

    def phase(text: str) -> None:
        print(f"[{time.monotonic() - started:5.1f} s] {text}", flush=True)
    folder = deployment["snapshots"]
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        pages, served_by = [], []
        try:
            for _ in range(SESSIONS):
                context = browser.new_context(viewport={"width": 1280, "height": 800})
                page = context.new_page()
                page.set_default_timeout(30_000)
                # "commit": on to the next session once nginx answered; the pages load
                # side by side.
                response = page.goto(deployment["url"], wait_until="commit")
                assert response is not None and response.ok
                served_by.append(response.headers.get("x-pitwall-replica"))
                pages.append(page)
            assert set(served_by) <= set(deployment["replicas"]), served_by
            phase(f"{SESSIONS} sessions opened")
            wait_all_loaded(pages)
            phase("every session shows a data version")
            # The budget is for sessions in their steady state (one refresh every 5 s), not
            # for the burst of 10 first runs at once on 2 cores: that burst leaves a session
            # about as far behind as a page load takes (4-15 s measured here, the most with one
            # core kept busy). So the sessions first catch up once, with a page load's budget,
            # and are measured after that.
            first = read_snapshot(folder)
            assert first is not None
            settled = newer_snapshot(folder, first.version)
            catch_up = wait_all_show(pages, settled, budget_s=60.0)
            phase(f"every session caught up after its first run: {catch_up:.1f} s")
            # Every session shows the version the publisher stores next.
            target = newer_snapshot(folder, settled.version)
            lags = [wait_all_show(pages, target)]
            phase(f"every session shows version {target.version}: {lags[-1]:.1f} s")
            for page in pages:
                assert page.locator('[data-testid="stException"]').count() == 0
            # Kill the replica of the first session: the others keep serving.
            dead = served_by[0]
            pid = int((deployment["run"] / f"replica-{dead.split(':')[1]}.pid").read_text())
            os.kill(pid, signal.SIGKILL)
            survivors = [pg for pg, by in zip(pages, served_by, strict=True) if by != dead]
            target = newer_snapshot(folder, target.version)
            if survivors:
                lags.append(wait_all_show(survivors, target))
                phase(f"replica {dead} killed; the {len(survivors)} sessions on the other "
                      f"show version {target.version}: {lags[-1]:.1f} s")
            # A reload of each session the dead replica served lands on the live one and
            # shows a current version.
            moved = [pg for pg, by in zip(pages, served_by, strict=True) if by == dead]
            for page in moved:
                response = page.reload(wait_until="commit")
                # 304: the browser revalidated its copy of the page (from a live replica).
                assert response is not None and response.status in (200, 304), (
                    response and response.status, nginx_logs(deployment["run"]))
                assert response.headers.get("x-pitwall-replica") != dead
            wait_all_loaded(moved)
            phase(f"the {len(moved)} sessions of the dead replica reloaded, each shows a "
                  "data version")
            target = newer_snapshot(folder, target.version)
            lags.append(wait_all_show(pages, target))
            phase(f"every session shows version {target.version}: {lags[-1]:.1f} s")
            for page in pages:
                assert page.locator('[data-testid="stException"]').count() == 0
                assert "Traceback" not in page.locator("body").inner_text()
        finally:
            browser.close()
    runtime = time.monotonic() - started
    phase("done")
    print(f"\n{SESSIONS} sessions on {len(set(served_by))} replicas "
          f"({sum(b == served_by[0] for b in served_by)} on the killed one); time from a "
          f"stored version to every session showing it: {', '.join(f'{x:.1f}' for x in lags)}"
          f" s (budget {LAG_BUDGET_S:.0f} s; {catch_up:.1f} s to catch up after the first runs);"
          f" browser part {runtime:.0f} s")
    assert max(lags) <= LAG_BUDGET_S
