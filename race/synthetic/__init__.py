"""Synthetic race generation behind ``race.sample``: an invented entry list and a time-ordered
simulation of the race, written out as an official lap file by ``race.sample``.
"""
