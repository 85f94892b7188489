"""What earlier races teach the strategy engine: stint lengths, stop costs, caution stops.

A ``RaceSummary`` holds one finished race's green-lap stint records and stop costs (computed
once, whole-race information is fine for a race in the past). ``History`` pools summaries and
answers per (track, class): stint consumptions, routine stop costs, pit-lane offsets, the
neutral-lap fuel fraction, and how often cars pit under a caution at a given stint progress.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from race.strategy.causal import causal_lap_facts
from race.strategy.fuel import (
    DEFAULT_NEUTRAL_FRACTION,
    fuel_stint_numbers,
    lap_units,
    measure_neutral_fraction,
    stint_records,
)
from race.strategy.handover import STARTER_COLUMNS, starter_minimum, starter_totals
from race.strategy.stop_cost import mark_routine, measure_stops
from race.strategy.tracks import (
    FUEL_LIMITED,
    class_group,
    class_key,
    class_keys,
    related_classes,
)

MIN_NEUTRAL_LAPS = 100   # neutralised laps (in green-ended stints) to measure a fraction on
START_GROUPS = (FUEL_LIMITED,)   # class groups whose first stint starts with formation laps used
START_MIN_LATER = 3      # later full stints of a class in a race to measure its first-stint deficit
START_MIN_RACES = 1      # races needed for a start-units estimate
PROGRESS_BINS = np.array([0.0, 0.2, 0.4, 0.55, 0.7, 0.8, 0.9, 1.0, 10.0])


@dataclass
class RaceSummary:
    """One past race reduced to what the strategy engine learns from."""

    race_id: str
    series: str
    track: str
    stints: pd.DataFrame          # stint_records with units counted at fraction 0 and 1
    stops: pd.DataFrame           # measure_stops + ``routine``
    caution: pd.DataFrame         # per (neutral period, car): stint progress, pitted
    inflation: float = np.nan     # class winners' mean lap (stops, cautions) / clean lap
    starters: pd.DataFrame = field(   # per car: the starting driver's total drive time
        default_factory=lambda: pd.DataFrame(columns=STARTER_COLUMNS))


def _caution_exposure(laps: pd.DataFrame, periods: pd.DataFrame,
                      stints: pd.DataFrame) -> pd.DataFrame:
    """For each neutral period and each car running at its start: stint progress and whether
    the car pitted during the period (its in-lap overlaps it)."""
    if periods.empty or stints.empty:
        return pd.DataFrame(columns=["class_key", "progress", "pitted"])
    typical = (stints[stints["green_end"] & (stints["laps"] >= 8)]
               .groupby("class_key")["laps"].median())
    rows = []
    in_laps = laps[laps["in_lap"]]
    for p_start, p_end in zip(periods["start_s"], periods["end_s"], strict=True):
        if p_end - p_start < 60.0:
            continue
        before = laps[laps["elapsed_s"] <= p_start]
        if before.empty:
            continue
        last = before.groupby("number", sort=False).tail(1)
        last = last[~last["in_lap"]]
        pitted = set(in_laps.loc[(in_laps["elapsed_s"] > p_start)
                                 & (in_laps["start_s"] < p_end), "number"])
        for number, cls, in_stint in zip(last["number"], last["class"], last["lap_in_stint"],
                                         strict=True):
            ck = class_key(cls)
            full = typical.get(ck, np.nan)
            if not np.isfinite(full) or full <= 0:
                continue
            rows.append((ck, float(in_stint) / float(full), number in pitted))
    return pd.DataFrame(rows, columns=["class_key", "progress", "pitted"])


def summarise_race(laps: pd.DataFrame, *, race_id: str, series: str, track: str,
                   ) -> RaceSummary:
    """Reduce one race's derived laps to a ``RaceSummary``.

    Args:
        laps: derived laps (``derive_laps`` output or the stored table) of a finished race.
        race_id, series, track: identity; ``track`` is a ``tracks.track_key``.
    """
    laps, periods = causal_lap_facts(laps)
    laps["fuel_stint"] = fuel_stint_numbers(laps)
    records = stint_records(laps, lap_units(laps, 1.0))
    records["race_id"] = race_id
    stops = measure_stops(laps)
    stops["routine"] = mark_routine(stops)
    stops["race_id"] = race_id
    caution = _caution_exposure(laps, periods, records)
    return RaceSummary(race_id, series.upper(), track, records, stops, caution,
                       lap_inflation(laps), starter_totals(laps, class_keys(laps["class"])))


def _neutral_laps(stints: pd.DataFrame) -> int:
    return int(stints.loc[stints["green_end"].astype(bool), "neutral_laps"].sum())


def _start_deficits(green: pd.DataFrame) -> pd.DataFrame:
    """Per race and class: how many units shorter the first green stints were than a full
    one (upper quartile of the later stints without neutralised laps), ``deficit``.

    Args:
        green: green-ended stints with ``race_id, series, class_key, stint_number,
            neutral_laps, units``.
    """
    rows = []
    if "track" not in green:
        green = green.assign(track="")
    for (race_id, series, track, ck), s in green.groupby(
            ["race_id", "series", "track", "class_key"], sort=False):
        later = s.loc[(s["stint_number"] > 1) & (s["neutral_laps"] == 0), "units"]
        first = s.loc[s["stint_number"] == 1, "units"]
        if len(later) >= START_MIN_LATER and len(first):
            rows.append((race_id, series, track, ck,
                         float(later.quantile(0.75) - first.median())))
    return pd.DataFrame(rows, columns=["race_id", "series", "track", "class_key", "deficit"])


def lap_inflation(laps: pd.DataFrame) -> float:
    """How much slower than its clean pace a class winner covers a lap over a whole race
    (pit stops, cautions, traffic): median over classes of mean lap / median clean lap."""
    ratios = []
    for _, c in laps.groupby("class", sort=False):
        winner = c.loc[c["lap_number"].idxmax(), "number"]
        own = c[c["number"] == winner]
        clean = own.loc[own["clean_c"].astype(bool), "lap_time_s"]
        if len(clean) >= 10:
            ratios.append(float(own["elapsed_s"].max()) / len(own) / float(clean.median()))
    return float(np.median(ratios)) if ratios else np.nan


@dataclass
class History:
    """Pooled summaries of past races; fractions fitted per class on construction."""

    summaries: list[RaceSummary] = field(default_factory=list)
    neutral_fraction: dict[str, float] = field(default_factory=dict)
    _cache: dict = field(default_factory=dict, repr=False)

    @classmethod
    def from_summaries(cls, summaries: Iterable[RaceSummary]) -> History:
        """Pool summaries and measure the neutral-lap fuel fraction per class."""
        summaries = list(summaries)
        self = cls(summaries)
        stints = self.stints()
        if not stints.empty:
            stints["series"] = np.concatenate([[s.series] * len(s.stints) for s in summaries])
        fractions: dict[str, float] = {}
        if not stints.empty:
            pooled = measure_neutral_fraction(stints)
            for ck, s in stints.groupby("class_key"):
                fractions[str(ck)] = (measure_neutral_fraction(s)
                                      if _neutral_laps(s) >= MIN_NEUTRAL_LAPS else pooled)
            # one class name, two series (IMSA LMP2, WEC LMP2): different cars, different
            # cautions (safety car, FCY at 80 km/h), so each series gets its own fraction
            for (series, ck), s in stints.groupby(["series", "class_key"]):
                if _neutral_laps(s) >= MIN_NEUTRAL_LAPS:
                    fractions[f"{series}/{ck}"] = measure_neutral_fraction(s)
            fractions["*"] = pooled
        self.neutral_fraction = fractions
        return self

    def fraction(self, ck: str, series: str | None = None) -> float:
        """Neutral-lap fuel fraction for a class key: of the series' class when measured,
        else of the class (all series), else pooled, else the default."""
        if series is not None and f"{series.upper()}/{ck}" in self.neutral_fraction:
            return self.neutral_fraction[f"{series.upper()}/{ck}"]
        return self.neutral_fraction.get(ck, self.neutral_fraction.get("*",
                                                                       DEFAULT_NEUTRAL_FRACTION))

    def stints(self, track: str | None = None, ck: str | None = None) -> pd.DataFrame:
        """Stint records (with ``track``), optionally one track and class."""
        frames = [s.stints.assign(track=s.track) for s in self.summaries
                  if track is None or s.track == track]
        if not frames:
            return pd.DataFrame(columns=["race_id", "number", "class_key", "laps",
                                         "neutral_laps", "green_end", "track"])
        out = pd.concat(frames, ignore_index=True)
        return out if ck is None else out[out["class_key"] == ck]

    def stops(self, track: str | None = None) -> pd.DataFrame:
        frames = [s.stops.assign(track=s.track) for s in self.summaries
                  if track is None or s.track == track]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
            columns=["class_key", "cost_s", "pit_time_s", "offset_s", "routine", "track"])

    def _green_stints(self, min_laps: int) -> pd.DataFrame:
        cached = self._cache.get(("green", min_laps))
        if cached is None:
            frames = [s.stints.assign(track=s.track, series=s.series) for s in self.summaries]
            if frames:
                st = pd.concat(frames, ignore_index=True)
                st = st[st["green_end"] & (st["laps"] >= min_laps)].copy()
                f = pd.Series([self.fraction(ck, se) for ck, se in
                               zip(st["class_key"], st["series"], strict=True)],
                              index=st.index, dtype=float)
                st["units"] = (st["laps"] - st["neutral_laps"]) + f * st["neutral_laps"]
                starts = _start_deficits(st)
                self._cache[("start", min_laps)] = starts
                # a first stint's tank also fed the formation laps: counted, it is a full one
                first = st["stint_number"].eq(1).to_numpy()
                extra = np.array([self.start_units(ck, se, track=tr, min_laps=min_laps)
                                  if f1 else 0.0
                                  for ck, se, tr, f1 in zip(st["class_key"], st["series"],
                                                            st["track"], first, strict=True)])
                st["units"] = st["units"] + extra
                st["green_s"] = st["units"] * st["pace_s"]
            else:
                st = pd.DataFrame(columns=["track", "series", "class_key", "units", "green_s"])
            cached = self._cache[("green", min_laps)] = st
        return cached

    def start_units(self, ck: str, series: str | None = None, *, track: str | None = None,
                    min_laps: int = 8) -> float:
        """Units a car of a fuel-limited class has used when lap 1 begins (formation and pace
        laps), as measured in past races (``_start_deficits``): the median over the series'
        races of the class at ``track``, else over the series' races, else over all races of
        the class, else 0. The units are laps of the track and the start procedure is the
        series' (WEC: a formation lap and a rolling start; IMSA: pace laps), so the track's
        own races come first: at Le Mans the WEC LMP2 first stints were 1-2 laps short (2019,
        2024), at IMSA tracks -9...+20 laps (pace laps, and starters handing over at their
        minimum drive time, ``handover``). Other class groups: 0
        (their stint lengths are set by energy allocations and strategy, and their first
        stints were not shorter on real races: measured median deficit −0.5 laps on WEC).
        """
        if class_group(ck) not in START_GROUPS:
            return 0.0
        if ("start", min_laps) not in self._cache:
            self._green_stints(min_laps)
        starts = self._cache.get(("start", min_laps))
        if starts is None or starts.empty:
            return 0.0
        mine = starts[starts["class_key"] == ck]
        same = mine[mine["series"] == (series or "").upper()]
        for values in (same.loc[same["track"] == track, "deficit"] if track else same[:0],
                       same["deficit"], mine["deficit"]):
            if len(values) >= START_MIN_RACES:
                return max(0.0, float(values.median()))
        return 0.0

    def stint_units(self, track: str, ck: str, *, min_laps: int = 8) -> np.ndarray:
        """Consumptions (units) of green-ended stints of a class at a track."""
        s = self._green_stints(min_laps)
        s = s[(s["track"] == track) & (s["class_key"] == ck)]
        return s["units"].to_numpy(dtype=float)

    def stint_evidence(self, track: str, ck: str, series: str, *, min_laps: int = 8,
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """History evidence for a class at a track, best first.

        Returns:
            (units of the class's stints at this track, units of related classes' stints at
            this track, green durations (s) of the class's and related classes' stints at
            other tracks of the same series: divide by the car's pace for units)
        """
        s = self._green_stints(min_laps)
        related = related_classes(ck)
        here = s["track"] == track
        same = s["class_key"] == ck
        rel = s["class_key"].isin(related)
        elsewhere = ~here & (same | rel) & (s["series"] == series.upper())
        durations = s.loc[elsewhere, "green_s"].to_numpy(dtype=float)
        return (s.loc[here & same, "units"].to_numpy(dtype=float),
                s.loc[here & rel, "units"].to_numpy(dtype=float),
                durations[np.isfinite(durations)])

    def starter_minimum(self, series: str, ck: str, race_s: float | None) -> float:
        """The starting driver's minimum drive time (s) in a race of this length, learned
        from the starters of past races of the series and class (``handover``); NaN when too
        few past cars raced a similar length."""
        if race_s is None:
            return np.nan
        key = ("starter", series.upper(), ck, float(race_s))
        if key not in self._cache:
            frames = [s.starters for s in self.summaries
                      if s.series == series.upper() and len(s.starters)]
            totals = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
                columns=STARTER_COLUMNS)
            self._cache[key] = starter_minimum(totals[totals["class_key"] == ck],
                                               float(race_s))
        return self._cache[key]

    def repeat_error(self, track: str, ck: str) -> float:
        """Mean |Δ laps| between a car's consecutive full green stints (≥ 8 laps, none
        neutralised, not the first) of a class at a track in past races; NaN without any."""
        key = ("repeat", track, ck)
        if key not in self._cache:
            errors = []
            for s in self.summaries:
                if s.track != track or s.stints.empty:
                    continue
                st = s.stints[(s.stints["class_key"] == ck) & s.stints["green_end"].astype(bool)
                              & (s.stints["neutral_laps"] == 0) & (s.stints["laps"] >= 8)
                              & (s.stints["stint_number"] > 1)]
                for _, c in st.sort_values("end_s").groupby("number", sort=False):
                    errors.extend(np.abs(np.diff(c["laps"].to_numpy(dtype=float))))
            self._cache[key] = float(np.mean(errors)) if errors else np.nan
        return self._cache[key]

    def cost_residuals(self, track: str, ck: str) -> np.ndarray:
        """Routine stop costs of a class at a track minus their race's class median (s); the
        class at every track when the track has none."""
        key = ("cost_res", track, ck)
        if key not in self._cache:
            s = self.stops()
            if "race_id" in s and len(s):
                s = s[(s["class_key"] == ck) & s["routine"].astype(bool)]
                res = s["cost_s"] - s.groupby("race_id")["cost_s"].transform("median")
                here = (s["track"] == track).to_numpy()
                res = res.to_numpy(dtype=float)
                self._cache[key] = res[here] if here.sum() >= 5 else res
            else:
                self._cache[key] = np.zeros(0)
        return self._cache[key]

    def routine_cost(self, track: str, ck: str) -> float:
        """Median routine stop cost (s) of a class at a track; NaN without history."""
        s = self.stops(track)
        s = s[(s["class_key"] == ck) & s["routine"]]
        return float(s["cost_s"].median()) if len(s) else np.nan

    def lap_inflation(self, track: str, series: str) -> float:
        """Expected mean lap / clean lap over a race: this track's races, else the series'."""
        here = [s.inflation for s in self.summaries if s.track == track]
        same = [s.inflation for s in self.summaries if s.series == series.upper()]
        for values in (here, same):
            values = [v for v in values if np.isfinite(v)]
            if values:
                return float(np.median(values))
        return np.nan

    def routine_pit_time(self, track: str, ck: str, *, anywhere: bool = False) -> float:
        """Median routine PIT_TIME (s) of a class at a track; NaN without history. With
        ``anywhere``, a track without the class in history gets the class's median over all
        tracks (a first visit: WEC 2025 at Imola, COTA, Qatar, São Paulo)."""
        key = ("pit", track, ck, anywhere)
        if key not in self._cache:
            s = self.stops(track)
            s = s[(s["class_key"] == ck) & s["routine"].astype(bool)]
            if not len(s) and anywhere:
                s = self.stops()
                s = s[(s["class_key"] == ck) & s["routine"].astype(bool)]
            self._cache[key] = float(s["pit_time_s"].median()) if len(s) else np.nan
        return self._cache[key]

    def pit_offset(self, track: str) -> float:
        """Median (cost − PIT_TIME) of routine stops at a track: the pit-lane offset (s)."""
        s = self.stops(track)
        s = s[s["routine"]]
        return float(s["offset_s"].median()) if len(s) else np.nan

    def caution_table(self, group: str | None = None) -> pd.DataFrame:
        """P(pit during a caution) by stint progress bin, pooled over a class group."""
        cached = self._cache.get(("caution", group))
        if cached is None:
            cached = self._cache[("caution", group)] = self._caution_table(group)
        return cached

    def _caution_table(self, group: str | None) -> pd.DataFrame:
        frames = [s.caution for s in self.summaries if len(s.caution)]
        if not frames:
            return pd.DataFrame(columns=["lo", "hi", "p", "n"])
        c = pd.concat(frames, ignore_index=True)
        if group is not None:
            c = c[c["class_key"].map(class_group) == group]
        bins = pd.cut(c["progress"], PROGRESS_BINS, right=False)
        table = c.groupby(bins, observed=False)["pitted"].agg(["mean", "size"]).reset_index()
        return pd.DataFrame({"lo": PROGRESS_BINS[:-1], "hi": PROGRESS_BINS[1:],
                             "p": table["mean"].to_numpy(), "n": table["size"].to_numpy()})
