"""Record, replay and backtest (``polyloly record`` / ``polyloly replay``; specs/11).

A recording of the raw inbound stream is replayed through the same pure cores the live
processes run (gateway book keeping into a real shm store, esports parsers, shard cores, the
engine's risk layer and paper executor), on the recorded clock, deterministically.
"""
