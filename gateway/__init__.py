"""PolyLOL gateway package."""
