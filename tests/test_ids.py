"""Primary keys are UUIDv7 and ordered by creation within a process: exports and lists order
by id, so rows made in the same millisecond must not come out shuffled."""

from __future__ import annotations

import threading
import uuid

from tenants.ids import uuid7


def test_uuid7_is_version_7_and_monotonic_within_a_millisecond() -> None:
    ids = [uuid7() for _ in range(10_000)]  # many per millisecond
    assert all(u.version == 7 and u.variant == uuid.RFC_4122 for u in ids)
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)


def test_uuid7_from_threads_is_unique_and_each_thread_sees_its_own_ids_ordered() -> None:
    results: list[list[uuid.UUID]] = [[] for _ in range(4)]

    def make(out: list[uuid.UUID]) -> None:
        out.extend(uuid7() for _ in range(5_000))

    threads = [threading.Thread(target=make, args=(out,)) for out in results]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(out == sorted(out) for out in results)
    every = [u for out in results for u in out]
    assert len(set(every)) == len(every)
