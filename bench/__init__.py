"""PolyLOL bench package."""
