"""The engine's persistence port (:class:`EnginePersistence`) and its implementations.

The core talks only to the port; :class:`~engine.persistence.sqlite.SqlitePersistence` is the
production one (SQLite WAL + JSONL event log).
"""

from engine.persistence.port import EnginePersistence, PersistenceError

__all__ = ["EnginePersistence", "PersistenceError"]
