"""Everything Polymarket-specific in the gateway: wire schemas and parsing, WS sessions and
subscriptions, the book keeper (shm books), REST book resyncs and the user channel."""
