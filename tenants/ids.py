"""Time-ordered UUIDs (version 7) for primary keys.

Public ids are UUIDs, so they are neither enumerable nor a volume counter; version 7 keeps new
rows at the right-hand edge of the B-tree like a sequence would (Python 3.11 has no uuid7).
"""

from __future__ import annotations

import os
import time
import uuid


def uuid7() -> uuid.UUID:
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76  # version
    value |= ((rand >> 62) & 0xFFF) << 64  # 12 bits rand_a
    value |= 0b10 << 62  # variant
    value |= rand & ((1 << 62) - 1)  # 62 bits rand_b
    return uuid.UUID(int=value)
