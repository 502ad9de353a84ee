"""PolyLOL: the shared vocabulary of every process (types, messages, config, logs, metrics)."""

__version__ = "0.1.0"
