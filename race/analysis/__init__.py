"""Pure pandas/numpy analysis of stored laps: flag periods, stints, pit stops, running order."""
