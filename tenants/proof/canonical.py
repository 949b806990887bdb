"""Canonical forms and hashes. The byte-exact rules an auditor's verifier re-implements.

* canonical JSON: keys sorted, no whitespace (``,`` and ``:``), UTF-8, no NaN/Infinity;
* times: UTC, ``YYYY-MM-DDTHH:MM:SS.ffffffZ``; ids: lowercase hyphenated UUIDs or null;
* an event's content hash: SHA-256 of its canonical JSON (its ``seq`` and ``tenant_id`` are
  part of it, so an event cannot be moved to another place or tenant);
* chain: ``chain[n] = SHA-256(chain[n-1] || content[n])``, ``chain[0]`` = 32 zero bytes;
* Merkle tree (RFC 6962): leaf = ``SHA-256(0x00 || content)``, node = ``SHA-256(0x01 || l ||
  r)``, the empty tree's root = ``SHA-256("")``.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime
from typing import Any

GENESIS = bytes(32)
EVENT_FIELDS = (
    "seq",
    "tenant_id",
    "occurred_at",
    "actor_user_id",
    "actor_username",
    "actor_membership_id",
    "actor_tenant_id",
    "actor_role",
    "auth_method",
    "credential_id",
    "grant_id",
    "action",
    "resource_type",
    "resource_id",
    "outcome",
    "reason",
    "status_code",
    "request_id",
    "client_ip",
    "detail",
)
MEMBERSHIP_FIELDS = (
    "seq",
    "tenant_id",
    "membership_id",
    "user_id",
    "role",
    "is_active",
    "expires_at",
    "grant_id",
    "recorded_at",
)


def canonical_json(value: Any) -> bytes:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode()


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def uid(value: uuid.UUID | str | None) -> str | None:
    return None if value is None else str(uuid.UUID(str(value)))


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def content_hash(record: dict[str, Any]) -> bytes:
    return hashlib.sha256(canonical_json(record)).digest()


def chain_next(previous: bytes, content: bytes) -> bytes:
    return hashlib.sha256(previous + content).digest()


def leaf_hash(content: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + content).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


EMPTY_ROOT = hashlib.sha256(b"").digest()


class Frontier:
    """The right edge of an RFC 6962 tree: the roots of its perfect subtrees, largest first.

    ``append`` is amortised O(1); ``root()`` is O(log n). Serialisable as ``[[height, hex]]``
    so each checkpoint carries what the next one needs to extend the tree.
    """

    def __init__(self, peaks: list[tuple[int, bytes]] | None = None, size: int = 0) -> None:
        self.peaks = list(peaks or [])
        self.size = size

    @classmethod
    def load(cls, data: list[list[Any]], size: int) -> Frontier:
        frontier = cls([(int(h), bytes.fromhex(x)) for h, x in data], size)
        if sum(1 << h for h, _ in frontier.peaks) != size:
            raise ValueError(f"frontier does not describe a tree of {size} leaves")
        return frontier

    def dump(self) -> list[list[Any]]:
        return [[h, x.hex()] for h, x in self.peaks]

    def append(self, content: bytes) -> None:
        self.peaks.append((0, leaf_hash(content)))
        self.size += 1
        while len(self.peaks) >= 2 and self.peaks[-1][0] == self.peaks[-2][0]:
            (height, right), (_, left) = self.peaks.pop(), self.peaks.pop()
            self.peaks.append((height + 1, node_hash(left, right)))

    def root(self) -> bytes:
        if not self.peaks:
            return EMPTY_ROOT
        root = self.peaks[-1][1]
        for _, peak in reversed(self.peaks[:-1]):
            root = node_hash(peak, root)
        return root


def merkle_root(leaves: list[bytes]) -> bytes:
    """RFC 6962 MTH over already-hashed leaves (small trees: the platform checkpoint)."""
    if not leaves:
        return EMPTY_ROOT
    if len(leaves) == 1:
        return leaves[0]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return node_hash(merkle_root(leaves[:k]), merkle_root(leaves[k:]))


def inclusion_path(index: int, leaves: list[bytes]) -> list[bytes]:
    """RFC 6962 audit path of leaf ``index`` (PATH(m, D[n]))."""
    if len(leaves) <= 1:
        return []
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    if index < k:
        return [*inclusion_path(index, leaves[:k]), merkle_root(leaves[k:])]
    return [*inclusion_path(index - k, leaves[k:]), merkle_root(leaves[:k])]
