"""What a book store's writer and its readers share: one mapped segment seen as typed words.

Both sides address the same bytes through four views of the segment's buffer: raw bytes
(``_b``), signed 64-bit words (``_q``: sequences, sizes in bytes, times in ns), 64-bit floats
(``_d``: prices, sizes) and unsigned 32-bit words (``_i``: header fields, flags).
"""

from __future__ import annotations

from multiprocessing.shared_memory import SharedMemory
from typing import Self

from shm import layout as L
from shm._segment import segment_buffer


class MappedStore:
    """Base of :class:`~shm.writer.BookWriter` and :class:`~shm.reader.BookReader`."""

    _segment: SharedMemory
    _layout: L.StoreLayout
    _token_ids: tuple[str, ...]
    _b: memoryview
    _q: memoryview
    _d: memoryview[float]
    _i: memoryview

    def _map(self, segment: SharedMemory) -> memoryview:
        """Map ``segment``'s typed views; return its raw buffer."""
        self._segment = segment
        buf = segment_buffer(segment)
        self._b = buf
        self._q = buf.cast("q")
        self._d = buf.cast("d")
        self._i = buf.cast("I")
        return buf

    def _unmap(self) -> None:
        """Release the typed views and close this process's mapping."""
        for view in (self._q, self._d, self._i, self._b):
            view.release()
        self._segment.close()

    def close(self) -> None:
        """Release this process's mapping."""
        self._unmap()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def name(self) -> str:
        """Segment name, as passed to readers' ``attach``."""
        return self._segment.name.lstrip("/")

    @property
    def levels(self) -> int:
        """Visible capacity per side."""
        return self._layout.levels

    @property
    def token_ids(self) -> tuple[str, ...]:
        """Token ids in slot order (the published directory)."""
        return self._token_ids
