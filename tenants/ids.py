"""Time-ordered UUIDs (version 7) for primary keys.

Public ids are UUIDs, so they are neither enumerable nor a volume counter; version 7 keeps new
rows at the right-hand edge of the B-tree like a sequence would (Python 3.11 has no uuid7).
"""

from __future__ import annotations

import os
import threading
import time
import uuid

_lock = threading.Lock()
_last_ms = -1
_counter = 0


def uuid7() -> uuid.UUID:
    """A UUIDv7, monotonic within this process: ids made in the same millisecond are ordered by
    the 12-bit counter field (RFC 9562, method 1), so "ORDER BY id" is creation order here."""
    global _last_ms, _counter
    rand = int.from_bytes(os.urandom(8), "big")
    with _lock:
        ms = time.time_ns() // 1_000_000
        if ms > _last_ms:
            _last_ms, _counter = ms, rand >> 55  # a random start below half the counter range
        else:
            _counter += 1
            if _counter > 0xFFF:  # 4096 ids in one millisecond: borrow the next one
                _last_ms, _counter = _last_ms + 1, 0
        ms, counter = _last_ms, _counter
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76  # version
    value |= counter << 64  # 12 bits rand_a: the counter
    value |= 0b10 << 62  # variant
    value |= rand & ((1 << 62) - 1)  # 62 bits rand_b
    return uuid.UUID(int=value)


class Uuid7Sequence:
    """UUIDv7 strings for bulk inserts, about 5x cheaper than ``uuid7()`` and monotonic within
    one sequence (the 12-bit counter field orders ids of the same millisecond).

    The 62 low bits come from a fast non-cryptographic generator seeded from the OS: ids are
    identifiers, never credentials; authorization does not depend on their being unguessable.
    """

    def __init__(self) -> None:
        import random

        self._random = random.Random(os.urandom(16))  # noqa: S311 - ids, not secrets
        self._ms = -1
        self._counter = 0

    def next(self) -> str:
        ms = time.time_ns() // 1_000_000
        if ms > self._ms:
            self._ms, self._counter = ms, self._random.getrandbits(9)
        else:
            self._counter += 1
            if self._counter > 0xFFF:  # 4096 ids in one millisecond: borrow the next one
                self._ms, self._counter = self._ms + 1, 0
        value = (
            (self._ms & 0xFFFFFFFFFFFF) << 80
            | 0x7 << 76
            | self._counter << 64
            | 0b10 << 62
            | self._random.getrandbits(62)
        )
        h = f"{value:032x}"
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
