"""The 6 h sample's figures fall inside the range spanned by the real 6 h races.

Real 6 h races: lap files in folders named ``*6h*`` (WEC) or ``*watkins-glen-international*``
(IMSA's 6 h) whose last crossing is 5.8–6.5 h, with FLAG_AT_FL (a file without it has only
inferred neutralisations). ``benchmarks/sample_realism.py`` prints the side-by-side table.
"""

from __future__ import annotations

import pytest

from race.analysis.race_figures import (
    RaceFigures,
    figure_ranges,
    outside_ranges,
    race_figures,
)
from race.importer import build_race_frames
from race.sample import generate_sample_race
from race.sources.lapfile import parse_lap_file
from tests.conftest import real_file_id, real_lap_files, requires_realdata

pytestmark = [pytest.mark.realdata, requires_realdata]


def _figures(data: bytes, source: str) -> RaceFigures:
    return race_figures(build_race_frames(parse_lap_file(data, source)))


@pytest.fixture(scope="module")
def real_ranges() -> dict[str, tuple[float, float]]:
    candidates = [p for p in real_lap_files()
                  if "6h" in p.parent.name or "watkins-glen-international" in p.parent.name]
    figures = {}
    for path in candidates:
        f = _figures(path.read_bytes(), str(path))
        if 5.8 <= f.race_hours <= 6.5 and f.has_flags:
            figures[real_file_id(path)] = f
    if len(figures) < 3:
        pytest.skip(f"only {len(figures)} real 6 h races with flags found")
    return figure_ranges(list(figures.values()))


@pytest.mark.parametrize("seed", [1, 2])
def test_wec_sample_inside_real_six_hour_ranges(real_ranges: dict[str, tuple[float, float]],
                                                 seed: int) -> None:
    sample = _figures(generate_sample_race(6.0, seed, "WEC"), "sample")
    for cls in sample.class_median_lap_s:
        assert f"lap:{cls}" in real_ranges, f"no real 6 h race has class {cls}"
    assert outside_ranges(sample, real_ranges) == []


def test_ranges_are_meaningful(real_ranges: dict[str, tuple[float, float]]) -> None:
    """Guard against a range collapsing to nothing (e.g. a filter that keeps one race)."""
    low, high = real_ranges["pit_time_s"]
    assert high - low > 5
    assert real_ranges["neutralised_share"][1] > 2 * real_ranges["neutralised_share"][0]
