"""Polymarket CLOB adapter: wire schemas, pure frame parsing, market and user WebSockets."""
