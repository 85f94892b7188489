"""Further sub-commands of ``python -m race``, one module per feature.

Each module registers its commands with ``race.cli.command``; ``race.cli`` imports every
module of this package at start-up.
"""
