"""PolyLOL shards package."""
