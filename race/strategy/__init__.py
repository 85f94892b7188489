"""Strategy engine: pit windows, stop cost, rejoin position, drive time, finish projection.

Modules: ``tracks`` (track/class keys), ``causal`` (lap facts known at each crossing),
``pace`` (EWMA clean-lap pace), ``fuel`` (fuel/energy window), ``stop_cost``, ``rejoin``
(ghost projection, Monte Carlo), ``drive_time`` (+ ``drive_time_rules.csv``), ``finish``,
``history`` (what past races teach), ``engine`` (per-lap predictions and replay), ``live``
(the snapshot the Strategy page shows), ``scoring`` and ``backtest`` (ML.md §3–4).
"""
