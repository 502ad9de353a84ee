"""PolyLOL simulator: a local Polymarket venue and local esports feeds replaying scenarios."""
