"""Local esports provider feeds (OpenDota, LoL Esports, PandaScore, GRID, Liquipedia,
Polymarket sports WebSocket) replaying scenario timelines in each provider's own format.

Each provider module holds pure formatters (state → JSON-ready dict, shaped like the fixtures
in ``tests/fixtures/esports``) and a thin aiohttp application factory.
"""
