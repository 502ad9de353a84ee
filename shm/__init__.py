"""Shared-memory order books: one writer (the gateway), many readers (shards, engine).

See specs/10_SHM_BOOKS_SPEC.md for the byte layout, the seqlock protocol and the guarantees.
"""

from shm.depth import DepthUnderLimit, FillEstimate, SizeUnit, depth_under_limit, walk_levels
from shm.errors import (
    BookRejectReason,
    BookUpdateError,
    LayoutError,
    ShmBookError,
    StoreInUseError,
    StoreNotReadyError,
    TornReadError,
    UnknownTokenError,
    WriterDeadError,
)
from shm.layout import LAYOUT_VERSION, SlotFlags, StoreLayout, StoreState
from shm.reader import BookReader, BookSnapshot, TopOfBook
from shm.writer import DEFAULT_LEVELS, DEFAULT_TICK_SIZE, BookWrite, BookWriter, LevelChange

__all__ = [
    "DEFAULT_LEVELS",
    "DEFAULT_TICK_SIZE",
    "LAYOUT_VERSION",
    "BookReader",
    "BookRejectReason",
    "BookSnapshot",
    "BookUpdateError",
    "BookWrite",
    "BookWriter",
    "DepthUnderLimit",
    "FillEstimate",
    "LayoutError",
    "LevelChange",
    "ShmBookError",
    "SizeUnit",
    "SlotFlags",
    "StoreInUseError",
    "StoreLayout",
    "StoreNotReadyError",
    "StoreState",
    "TopOfBook",
    "TornReadError",
    "UnknownTokenError",
    "WriterDeadError",
    "depth_under_limit",
    "walk_levels",
]
