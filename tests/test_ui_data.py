"""The pages' cached reads (``ui.data``): a new data version drops the older version's entries,
so a live race polled every 10 s does not keep a copy of its laps per poll."""

from __future__ import annotations

from pathlib import Path

from race.importer import import_lap_file
from tests.lapfixture import lap_file
from ui import data
from ui.state import get_store


def test_a_new_data_version_clears_the_older_versions_entries(tmp_path: Path) -> None:
    path = str(tmp_path / "race.duckdb")
    store = get_store(path)
    before = data.data_version(path)
    assert data.races(path, before).empty  # cached: an empty database
    assert data.races(path, before).empty  # served from the cache
    race_id = import_lap_file(store, tmp_path / "laps.csv", data=lap_file(),
                              series="imsa", event="test", year=2024).race_id
    # Not seen yet: the entry of the older version is still served.
    assert data.races(path, before).empty
    after = data.data_version(path)
    assert after != before
    # Seen: the older entry is gone (recomputed now, it finds the imported race).
    assert list(data.races(path, before)["race_id"]) == [race_id]
    board, _, _ = data.leaderboard(path, race_id, after, None)
    assert len(board) == 3
    assert data.data_version(path) == after  # unchanged version: nothing cleared
    assert len(data.leaderboard(path, race_id, after, None)[0]) == 3


def test_every_versioned_read_is_cleared() -> None:
    """Each cached read keyed by the data version is in ``VERSIONED`` (and nothing else)."""
    import inspect

    cached = {name: func for name, func in vars(data).items()
              if callable(func) and callable(getattr(func, "clear", None))}
    keyed = {name for name, func in cached.items()
             if "version" in inspect.signature(func).parameters}
    assert keyed == {func.__name__ for func in data.VERSIONED}
