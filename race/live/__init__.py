"""Live ingestion: feed snapshots → laps (tracker) → incremental race tables → store.

``tracker`` turns consecutive snapshots into lap rows, ``race`` keeps one race's laps in
memory and derives what changed, ``session`` ties fetching, parsing, validation and storage
together for one feed, ``replay`` plays stored races and recordings through the same path.
"""
