"""Executors: paper (default) and real (py-clob-client-v2), one interface in base."""
