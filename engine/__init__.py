"""PolyLOL engine package."""
