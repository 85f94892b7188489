"""The invented world of a sample race: tracks, classes, cars, teams and drivers.

Nothing here is copied from a real entry list: teams, manufacturers, tracks and driver names
are made up (names are drawn from generic first-name and surname pools). Pace figures are
chosen to resemble modern endurance racing: prototypes ~1:35 on a 5.5 km track, LMP2 ~4 %
slower, GT3 ~12 % slower; FIA licence levels set how far a driver is off a Platinum's pace.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

LICENCES = ("Platinum", "Gold", "Silver", "Bronze")
# Pace deficit to a Platinum driver in % of the lap (mean, spread) and lap-to-lap noise σ in
# seconds per 100 s of lap (low, high): slower drivers are also less consistent.
LICENCE_PACE = {"Platinum": (0.0, 0.2), "Gold": (0.45, 0.2), "Silver": (1.0, 0.3),
                "Bronze": (2.1, 0.45)}
LICENCE_NOISE = {"Platinum": (0.34, 0.48), "Gold": (0.38, 0.54), "Silver": (0.45, 0.65),
                 "Bronze": (0.55, 0.85)}


@dataclass(frozen=True)
class Track:
    """A circuit: length, how the lap splits into sectors, pit-lane and neutralisation pace.

    Attributes:
        length_km: lap length (km).
        sector_shares: share of a green lap spent in S1, S2, S3 (sums to 1).
        pit_lane_s: time to drive through the pit lane at the limiter (s).
        pit_exit_share: share of a green lap bypassed by the pit lane after the line.
        start_time_of_day_s: local time of the start (s after midnight).
        fcy_kph: full-course-yellow speed limit (km/h).
        safety_car_ratio: safety-car lap / reference lap of the fastest class.
    """

    name: str
    length_km: float
    sector_shares: tuple[float, float, float]
    pit_lane_s: float
    pit_exit_share: float
    start_time_of_day_s: float
    fcy_kph: float = 80.0
    safety_car_ratio: float = 1.8


@dataclass(frozen=True)
class ClassSpec:
    """A class of cars at one track.

    Attributes:
        name: class code as written in CLASS.
        lap_s: green lap of a Platinum driver on fresh tyres, full tank (s).
        top_speed_kph: typical speed-trap figure.
        stint_laps: green laps one tank / energy allocation lasts.
        refuel_s: time to refill from empty (s).
        tyre_s: extra time for four tyres when they follow refuelling (s, WEC) or the time of
            the tyre change done in parallel (IMSA).
        fade_s: lap time lost per lap of tyre age (s/lap).
        fuel_gain_s: lap time gained per lap of fuel burnt (s/lap).
        lineups: licence line-ups to draw from, one per car.
        group: GROUP column value.
        makes: manufacturers to draw from.
        cars: entries in a 6 h race (±2 by seed).
    """

    name: str
    lap_s: float
    top_speed_kph: float
    stint_laps: int
    refuel_s: float
    tyre_s: float
    fade_s: float
    fuel_gain_s: float
    lineups: tuple[tuple[str, ...], ...]
    group: str
    makes: tuple[str, ...]
    cars: int


@dataclass(frozen=True)
class SeriesSpec:
    """Everything that differs between a WEC-style and an IMSA-style sample."""

    name: str
    track: Track
    classes: tuple[ClassSpec, ...]
    neutral_code: str            # code of a safety-car period (IMSA shows it as FCY)
    sequential_tyres: bool       # WEC: tyres after refuelling; IMSA: in parallel
    name_style: str              # "WEC": Firstname SURNAME; "IMSA": Firstname Surname
    neutralisations_per_hour: float
    top_speed: bool              # IMSA files leave TOP_SPEED empty


@dataclass
class Driver:
    name: str
    licence: str
    pace_pct: float      # deficit to the car's Platinum pace (% of lap)
    noise_pct: float     # lap-to-lap σ (s per 100 s of lap)


@dataclass
class Entry:
    number: str
    cls: ClassSpec
    team: str
    make: str
    group: str
    pace_pct: float                  # car's offset from class reference (% of lap)
    pit_skill_s: float               # crew's offset on every stop (s)
    drivers: list[Driver] = field(default_factory=list)


_FIRST = ("Adrien", "Alessio", "André", "Anders", "Ben", "Brendan", "Callan", "Carlos",
          "Cédric", "Dario", "Daan", "Diego", "Elias", "Emil", "Enzo", "Esteban", "Felipe",
          "Finn", "Gabriel", "Hugo", "Ignacio", "Jakob", "James", "Jonas", "Julien", "Kai",
          "Kenta", "Lars", "Leon", "Luca", "Lukas", "Marco", "Mateo", "Mathis", "Matteo",
          "Maxime", "Mikkel", "Nico", "Noah", "Oliver", "Oscar", "Pablo", "Paolo", "Pedro",
          "Pierre", "Rafael", "Rasmus", "Riku", "Ryan", "Samuel", "Sebastián", "Simon",
          "Søren", "Takumi", "Theo", "Thomas", "Tiago", "Tobias", "Tom", "Valentin",
          "Victor", "William", "Yannick", "Yuki", "Zoltán")
_LAST = ("Abaroa", "Albrecht", "Almeida", "Arnesen", "Bakker", "Bellanger", "Bertolini",
         "Brandt", "Cardoso", "Castellano", "Claesson", "Dalmasso", "Delacroix", "Duval",
         "Eriksen", "Esposito", "Falkner", "Ferrand", "Fontaine", "Gallardo", "Garnier",
         "Grönholm", "Halvorsen", "Hartmann", "Heikkinen", "Iversen", "Jansen", "Jourdain",
         "Kallio", "Kessler", "Kowalczyk", "Lagarde", "Lindqvist", "Lombardi", "Maréchal",
         "Marino", "Meunier", "Moreau", "Nakamura", "Nordin", "Novak", "Okafor", "Olsen",
         "Pacheco", "Pellegrini", "Quintero", "Ravel", "Reinholt", "Rossetti", "Sandoval",
         "Schäfer", "Sekiguchi", "Solberg", "Tamura", "Teixeira", "Thorsen", "Valente",
         "Vasseur", "Verhoeven", "Voss", "Wagner", "Westergaard", "Yamada", "Zanetti",
         "Ødegaard", "Aguirre", "Ahlberg", "Barreto", "Beaumont", "Bianchetti", "Blomqvist",
         "Calloway", "Carvalho", "Collard", "Dekker", "Doyle", "Engström", "Fagerlund",
         "Fiorentini", "Gauthier", "Gilmore", "Haverkamp", "Holmgren", "Ishikawa",
         "Jacobsen", "Kaminski", "Keller", "Lachance", "Lindgren", "Mancini", "Mendoza",
         "Moriyama", "Navarro", "Nyström", "Oliveira", "Ortega", "Paquet", "Peralta",
         "Ramires", "Renaud", "Rinaldi", "Rydberg", "Santoro", "Sauvage", "Sinclair",
         "Stenberg", "Takagi", "Toivonen", "Urquhart", "Vallet", "Vidal", "Wallin",
         "Whitlock", "Zamora", "Zimmer", "Östlund")
_TEAM_A = ("Apex", "Bluewater", "Crestline", "Dunmore", "Emberline", "Falcon Ridge",
           "Granite", "Harbour", "Ironbark", "Juniper", "Kestrel", "Larkspur", "Meridian",
           "Northgate", "Orchard", "Pinecrest", "Quarry Hill", "Redwater", "Silverbirch",
           "Thornfield", "Umber", "Valle Verde", "Westbrook", "Yellowstone", "Zephyr")
_TEAM_B = ("Racing", "Motorsport", "Autosport", "Competition", "Racing Team",
           "Performance", "Engineering", "Endurance")
_SUFFIX_IMSA = (", LLC", " Inc.", "")

_WEC_HYPER_MAKES = ("Aurion", "Valkyr", "Stradamotori", "Norvik", "Helion", "Castore")
_LMP2_MAKES = ("Orvex", "Ligaro")
_GT3_MAKES = ("Aurion", "Stradamotori", "Norvik", "Brava", "Castore", "Mercurio",
              "Volante", "Kessel")


def _lineups(*options: str) -> tuple[tuple[str, ...], ...]:
    short = {"P": "Platinum", "G": "Gold", "S": "Silver", "B": "Bronze"}
    return tuple(tuple(short[c] for c in option) for option in options)


WEC_TRACK = Track("Circuito Valle Verde", 5.184, (0.245, 0.335, 0.42), 29.0, 0.045,
                  12 * 3600.0)
LONG_TRACK = Track("Circuit des Landes", 13.38, (0.26, 0.40, 0.34), 38.0, 0.02,
                   16 * 3600.0, safety_car_ratio=2.2)
IMSA_TRACK = Track("Lakeside Glen Raceway", 5.430, (0.232, 0.378, 0.39), 32.0, 0.045,
                   10 * 3600.0 + 40 * 60)


def _wec_classes(scale: float, stint_scale: float) -> tuple[ClassSpec, ...]:
    return (
        ClassSpec("HYPERCAR", 94.6 * scale, 306.0, round(30 * stint_scale), 32.0, 20.0,
                  0.030 * scale, 0.012 * scale, _lineups("PPP", "PPP", "PPG", "PPP"), "H",
                  _WEC_HYPER_MAKES, 16),
        ClassSpec("LMP2", 97.8 * scale, 288.0, round(31 * stint_scale), 30.0, 20.0,
                  0.035 * scale, 0.012 * scale, _lineups("PGB", "GSB", "PSB", "PGS"), "",
                  _LMP2_MAKES, 8),
        ClassSpec("LMGT3", 106.4 * scale, 266.0, round(27 * stint_scale), 29.0, 20.0,
                  0.028 * scale, 0.010 * scale, _lineups("BSP", "BSG", "BGP", "BSG"), "",
                  _GT3_MAKES, 14),
    )


def series_spec(series: str, hours: float) -> SeriesSpec:
    """The preset for ``series`` ("WEC" or "IMSA"); 20 h and longer runs on a long track."""
    if series == "IMSA":
        classes = (
            ClassSpec("GTP", 95.8, 0.0, 29, 38.0, 24.0, 0.032, 0.012,
                      _lineups("PPP", "PPG", "PPP"), "", ("Aurion", "Valkyr", "Norvik"), 10),
            ClassSpec("LMP2", 96.6, 0.0, 30, 38.0, 24.0, 0.035, 0.012,
                      _lineups("BPG", "BPS", "BGS", "SPG"), "", _LMP2_MAKES, 9),
            ClassSpec("GTDPRO", 106.85, 0.0, 28, 37.0, 24.0, 0.030, 0.010,
                      _lineups("PPG", "PGP", "PPP"), "", _GT3_MAKES, 7),
            ClassSpec("GTD", 106.6, 0.0, 28, 37.0, 24.0, 0.030, 0.010,
                      _lineups("BSG", "BGP", "BSP", "BGG"), "", _GT3_MAKES, 13),
        )
        return SeriesSpec("IMSA", IMSA_TRACK, classes, "FCY", False, "IMSA", 0.85, False)
    if hours >= 20:
        # Le Mans-like: laps of ~3:28 and stints of ~13 laps.
        track = LONG_TRACK
        classes = _wec_classes(208.0 / 94.6, 0.45)
        classes = tuple(ClassSpec(c.name, c.lap_s, c.top_speed_kph + 20, c.stint_laps,
                                  c.refuel_s, c.tyre_s, c.fade_s, c.fuel_gain_s, c.lineups,
                                  c.group, c.makes, c.cars + 5) for c in classes)
    else:
        track = WEC_TRACK
        classes = _wec_classes(1.0, 1.0)
    return SeriesSpec("WEC", track, classes, "SF", True, "WEC", 1.0, True)


def _number_pool(rng: random.Random, count: int) -> list[str]:
    """Car numbers as text: mostly 1–99, a few three-digit or zero-padded ("007", "04")."""
    numbers = rng.sample(range(2, 100), count)
    texts = [str(n) for n in numbers]
    for i in rng.sample(range(count), min(3, count)):
        n = numbers[i]
        texts[i] = f"{n:03d}" if n < 10 and rng.random() < 0.5 else f"0{n}"
    return texts


def _driver_name(rng: random.Random, style: str, used: set[str]) -> str:
    """A name not used yet; surnames repeat only once the pool runs low, as in real fields."""
    for attempt in range(200):
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        name = f"{first} {last.upper()}" if style == "WEC" else f"{first} {last}"
        if name not in used and (last not in used or attempt > 40):
            used.update((name, last))
            return name
    raise RuntimeError("driver name pool exhausted")


def build_entries(spec: SeriesSpec, rng: random.Random, hours: float) -> list[Entry]:
    """An invented entry list: class sizes, numbers, teams, line-ups and pace offsets."""
    sizes = [max(3, c.cars + rng.randint(-2, 2)) for c in spec.classes]
    total = min(sum(sizes), 60)
    numbers = _number_pool(rng, total)
    used_names: set[str] = set()
    teams = [f"{a} {b}" for a in _TEAM_A for b in _TEAM_B]
    rng.shuffle(teams)
    entries: list[Entry] = []
    for cls, size in zip(spec.classes, sizes, strict=True):
        makes = list(cls.makes)
        for _ in range(size):
            if len(entries) == total:
                break
            team = teams.pop()
            if spec.name == "IMSA":
                team += rng.choice(_SUFFIX_IMSA)
            make = rng.choice(makes)
            lineup = list(rng.choice(cls.lineups))
            if hours < 4 or rng.random() < 0.12:
                lineup = lineup[:2]  # short races and a few entries run two drivers
            drivers = []
            for licence in lineup:
                mean, spread = LICENCE_PACE[licence]
                low, high = LICENCE_NOISE[licence]
                drivers.append(Driver(_driver_name(rng, spec.name_style, used_names), licence,
                                      max(-0.3, rng.gauss(mean, spread)),
                                      rng.uniform(low, high)))
            group = cls.group if cls.group != "H" or rng.random() < 0.8 else ""
            entries.append(Entry(numbers[len(entries)], cls, team, make, group,
                                 rng.gauss(0.0, 0.32), rng.gauss(0.0, 1.2), drivers))
    return entries
