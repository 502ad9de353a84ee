"""Exceptions and reject reasons of the shared-memory book store."""

from __future__ import annotations

from enum import StrEnum


class BookRejectReason(StrEnum):
    """Why the writer refused an update; every refusal carries exactly one reason."""

    UNKNOWN_TOKEN = "UNKNOWN_TOKEN"
    PRICE_OUT_OF_RANGE = "PRICE_OUT_OF_RANGE"  # not finite or not strictly inside (0, 1)
    OFF_TICK = "OFF_TICK"  # not a multiple of the slot's tick size
    BAD_SIZE = "BAD_SIZE"  # negative, NaN or infinite
    BAD_SIDE = "BAD_SIDE"  # not BUY or SELL
    DUPLICATE_PRICE = "DUPLICATE_PRICE"  # same price twice on one side of a snapshot
    NO_SNAPSHOT = "NO_SNAPSHOT"  # level changes before the slot's first snapshot
    BAD_TICK_SIZE = "BAD_TICK_SIZE"  # tick size not finite or not inside (0, 1)
    BAD_HASH = "BAD_HASH"  # book hash not ASCII or longer than the slot's hash field
    MALFORMED = "MALFORMED"  # a value that is not a number, or a level that is not a pair


class ShmBookError(Exception):
    """Base class of every error raised by the ``shm`` package."""


class BookUpdateError(ShmBookError, ValueError):
    """An update was refused; the slot was left exactly as it was before the call."""

    def __init__(self, reason: BookRejectReason, token_id: str, detail: str) -> None:
        super().__init__(f"{reason.value} for token {token_id[:16]}…: {detail}")
        self.reason = reason
        self.token_id = token_id
        self.detail = detail


class LayoutError(ShmBookError):
    """The segment is not a PolyLOL book store, or was written by another layout version."""


class StoreInUseError(ShmBookError):
    """A segment with this name is owned by a live writer process; refuse to replace it."""


class StoreNotReadyError(ShmBookError, TimeoutError):
    """A reader gave up waiting for the segment to exist and be marked READY."""


class TornReadError(ShmBookError):
    """A reader could not obtain a consistent copy of a slot within its bounded wait."""


class WriterDeadError(TornReadError):
    """The slot stayed mid-write (odd seqlock counter) and the writer process is gone."""


class UnknownTokenError(ShmBookError, KeyError):
    """A reader asked for a token id that has no slot in the store."""
