#!/usr/bin/env python3
"""Verify an Annotate audit bundle offline. Standard library plus `cryptography`; no Django,
no database, no network.

    python tools/verify_bundle.py bundle.zip [--trusted-key keyid:base64pub ...]

Prints ``OK`` with the figures and exits 0, or prints every failure (with the event's sequence
number where there is one) and exits 1. It checks:

* every event's canonical content against its sealed hash, and the hash chain;
* gaplessness (seq 1..N, in order, nothing missing, duplicated or moved);
* every checkpoint: its Ed25519 signature and key id, its Merkle root (RFC 6962) and chain head
  against the events, its membership-history head, and that successive checkpoints only grow;
* the platform checkpoint: signature and the inclusion proof of this tenant's checkpoint;
* segregation: every allowed event's actor acted through a membership of this tenant, of that
  user, with that role, valid (active, not expired) at the event's time; break-glass events name
  their grant; system actors (tasks, commands) carry no person;
* the report: recomputed from the events and compared.

Without ``--trusted-key`` the public keys come from the bundle itself, which proves integrity
only relative to those keys: pin the keys the platform publishes for a real audit.
The byte-exact rules are in docs/audit.md; this file re-implements them independently of the
server's code.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import bisect
import hashlib
import json
import sys
import time
import zipfile
from collections import Counter
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

FORMAT = "annotate.audit-bundle/1"
TENANT_CHECKPOINT = "annotate.tenant-checkpoint/1"
PLATFORM_CHECKPOINT = "annotate.platform-checkpoint/1"
SYSTEM_METHODS = ("task", "command")
MAX_PRINTED = 1000
MAX_LISTED = 100_000  # as the server: denied and break-glass events listed one by one


def canonical(value: Any) -> bytes:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode()


def h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def leaf(content: bytes) -> bytes:
    return h(b"\x00" + content)


def node(left: bytes, right: bytes) -> bytes:
    return h(b"\x01" + left + right)


class Tree:
    """RFC 6962 Merkle tree head, extended one leaf at a time."""

    def __init__(self) -> None:
        self.peaks: list[tuple[int, bytes]] = []

    def add(self, content: bytes) -> None:
        self.peaks.append((0, leaf(content)))
        while len(self.peaks) > 1 and self.peaks[-1][0] == self.peaks[-2][0]:
            (height, right), (_, left) = self.peaks.pop(), self.peaks.pop()
            self.peaks.append((height + 1, node(left, right)))

    def root(self) -> bytes:
        if not self.peaks:
            return h(b"")
        root = self.peaks[-1][1]
        for _, peak in reversed(self.peaks[:-1]):
            root = node(peak, root)
        return root


def inclusion_root(index: int, size: int, leaf_hash: bytes, path: list[bytes]) -> bytes | None:
    """RFC 9162 section 2.1.3.2: the root implied by an inclusion proof, or None."""
    if index >= size:
        return None
    fn, sn, r = index, size - 1, leaf_hash
    for p in path:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = node(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node(r, p)
        fn >>= 1
        sn >>= 1
    return r if sn == 0 else None


class Verifier:
    def __init__(self, path: str, trusted: dict[str, str]) -> None:
        self.path = path
        self.trusted = trusted
        self.failures: list[str] = []
        self.figures: dict[str, Any] = {}

    def fail(self, message: str) -> None:
        self.failures.append(message)

    # -- signatures -------------------------------------------------------------------------

    def _check_signed(self, what: str, payload_text: str, signature: str) -> dict[str, Any] | None:
        try:
            payload = json.loads(payload_text)
        except ValueError:
            self.fail(f"{what}: payload is not JSON")
            return None
        if not isinstance(payload, dict) or canonical(payload).decode() != payload_text:
            self.fail(f"{what}: payload is not in canonical form")
            return None
        key_id = payload.get("key_id")
        key_b64 = self.keys.get(key_id) if isinstance(key_id, str) else None
        if key_b64 is None:
            self.fail(f"{what}: signed by unknown key id {key_id!r}")
            return payload
        try:
            key = Ed25519PublicKey.from_public_bytes(base64.b64decode(key_b64, validate=True))
            key.verify(base64.b64decode(signature, validate=True), payload_text.encode())
        except (InvalidSignature, ValueError, binascii.Error):
            self.fail(f"{what}: signature does not verify with key {key_id!r}")
        return payload

    # -- the run ------------------------------------------------------------------------------

    def run(self) -> bool:
        started = time.perf_counter()
        try:
            archive = zipfile.ZipFile(self.path)
        except (OSError, zipfile.BadZipFile) as exc:
            self.fail(f"cannot open the bundle: {exc}")
            return False
        with archive:
            names = set(archive.namelist())
            for required in (
                "manifest.json",
                "events.jsonl",
                "memberships.jsonl",
                "checkpoints.jsonl",
                "keys.json",
                "report.json",
            ):
                if required not in names:
                    self.fail(f"bundle lacks {required}")
            if self.failures:
                return False
            manifest = json.loads(archive.read("manifest.json"))
            if manifest.get("format") != FORMAT:
                self.fail(f"unknown bundle format {manifest.get('format')!r}")
                return False
            self.tenant_id = manifest["tenant"]["id"]
            self.period = manifest["period"]
            self._load_keys(json.loads(archive.read("keys.json")))
            checkpoints = self._load_checkpoints(archive.read("checkpoints.jsonl"))
            members_heads = self._load_memberships(archive.read("memberships.jsonl"))
            for size, cp in checkpoints:
                ms = cp.get("members_size", -1)
                if not 0 <= ms < len(members_heads):
                    self.fail(f"checkpoint at size {size}: members_size {ms} is not in the bundle")
                elif members_heads[ms].hex() != cp.get("members_head"):
                    self.fail(
                        f"checkpoint at size {size}: membership history head does not match "
                        f"the first {ms} membership records"
                    )
            with archive.open("events.jsonl") as stream:
                report = self._events(stream, checkpoints)
            if checkpoints:
                last = checkpoints[-1][0]
                if self.events_seen != last:
                    self.fail(
                        f"the last checkpoint covers {last} events, the bundle holds "
                        f"{self.events_seen}"
                    )
            elif self.events_seen:
                self.fail("events without any checkpoint")
            if manifest.get("size") != self.events_seen:
                self.fail(f"manifest says {manifest.get('size')} events, found {self.events_seen}")
            if "platform.json" in names:
                self._platform(json.loads(archive.read("platform.json")), checkpoints)
            else:
                self.figures["platform"] = "none in the bundle"
            self._report(json.loads(archive.read("report.json")), report)
        self.figures["seconds"] = round(time.perf_counter() - started, 2)
        return not self.failures

    def _load_keys(self, keys: dict[str, str]) -> None:
        self.keys = dict(keys)
        if self.trusted:
            for key_id, public in self.keys.items():
                if key_id in self.trusted and self.trusted[key_id] != public:
                    self.fail(f"key {key_id!r} in the bundle differs from the trusted key")
            self.keys = dict(self.trusted)
        self.figures["keys"] = sorted(self.keys)
        self.figures["keys_pinned"] = bool(self.trusted)

    def _load_checkpoints(self, data: bytes) -> list[tuple[int, dict[str, Any]]]:
        result: list[tuple[int, dict[str, Any]]] = []
        previous: dict[str, Any] | None = None
        for number, line in enumerate(data.splitlines(), start=1):
            what = f"checkpoint #{number}"
            try:
                entry = json.loads(line)
                payload = self._check_signed(what, entry["payload"], entry["signature"])
            except (ValueError, KeyError, TypeError):
                self.fail(f"{what}: malformed line")
                continue
            if payload is None:
                continue
            size = payload.get("size")
            if payload.get("type") != TENANT_CHECKPOINT or not isinstance(size, int):
                self.fail(f"{what}: not a tenant checkpoint")
                continue
            what = f"checkpoint at size {size}"
            if payload.get("tenant_id") != self.tenant_id:
                self.fail(f"{what}: signed for another tenant ({payload.get('tenant_id')})")
            if previous is not None:
                if size < previous["size"]:
                    self.fail(f"{what}: smaller than the checkpoint before it")
                if payload.get("signed_at", "") < previous.get("signed_at", ""):
                    self.fail(f"{what}: signed before the checkpoint before it")
                if payload.get("members_size", 0) < previous.get("members_size", 0):
                    self.fail(f"{what}: membership history shrank")
            previous = payload
            result.append((size, payload))
        self.figures["checkpoints"] = len(result)
        return result

    def _load_memberships(self, data: bytes) -> list[bytes]:
        """Membership states by id, and the chain head of every prefix of the history."""
        heads = [bytes(32)]
        self.memberships: dict[str, tuple[list[str], list[dict[str, Any]]]] = {}
        for number, line in enumerate(data.splitlines(), start=1):
            try:
                record = json.loads(line)
            except ValueError:
                self.fail(f"membership record {number}: not JSON")
                heads.append(heads[-1])
                continue
            if record.get("seq") != number:
                self.fail(f"membership record {number}: seq is {record.get('seq')}, not {number}")
            if record.get("tenant_id") != self.tenant_id:
                self.fail(f"membership record {number}: belongs to another tenant")
            heads.append(h(heads[-1] + h(canonical(record))))
            times, states = self.memberships.setdefault(str(record.get("membership_id")), ([], []))
            at = str(record.get("recorded_at"))
            position = bisect.bisect_right(times, at)
            times.insert(position, at)
            states.insert(position, record)
        self.figures["membership_records"] = len(heads) - 1
        return heads

    def _membership_problem(self, e: dict[str, Any]) -> str | None:
        if e["auth_method"] in SYSTEM_METHODS:
            if e["actor_user_id"] is not None or e["actor_membership_id"] is not None:
                return "a system actor (task, command) that names a person or membership"
            return None
        if e["actor_membership_id"] is None:
            return f"actor {e['actor_username']!r} acted through no membership"
        if e["actor_tenant_id"] != self.tenant_id:
            return f"actor {e['actor_username']!r} acted in another tenant"
        entry = self.memberships.get(e["actor_membership_id"])
        if entry is None:
            return f"membership {e['actor_membership_id']} is not a membership of this tenant"
        times, states = entry
        position = bisect.bisect_right(times, e["occurred_at"]) - 1
        if position < 0:
            return f"membership {e['actor_membership_id']} did not exist yet at that time"
        state = states[position]
        if state["user_id"] != e["actor_user_id"]:
            return (
                f"membership {e['actor_membership_id']} belongs to user {state['user_id']}, "
                f"not to {e['actor_username']!r} (user {e['actor_user_id']})"
            )
        if not state["is_active"]:
            return f"membership {e['actor_membership_id']} was not active at that time"
        if state["expires_at"] is not None and e["occurred_at"] >= state["expires_at"]:
            return f"membership {e['actor_membership_id']} had expired ({state['expires_at']})"
        if state["role"] != e["actor_role"]:
            return f"role {e['actor_role']!r} recorded, the membership had {state['role']!r}"
        if state["grant_id"] != e["grant_id"]:
            return (
                f"break-glass flag {e['grant_id']} does not match the membership's grant "
                f"{state['grant_id']}"
            )
        return None

    def _events(self, stream: Any, checkpoints: list[tuple[int, dict[str, Any]]]) -> Report:
        tree = Tree()
        chain = bytes(32)
        expected = 1
        at_size: dict[int, list[dict[str, Any]]] = {}
        for size, cp in checkpoints:
            at_size.setdefault(size, []).append(cp)
        for cp in at_size.get(0, []):
            self._compare_checkpoint(0, cp, tree, chain)
        report = Report()
        allowed_checked = 0
        count = 0
        for number, raw in enumerate(stream, start=1):
            try:
                line = json.loads(raw)
                seq = line["seq"]
                content = bytes.fromhex(line["hash"])
                stated_chain = bytes.fromhex(line["chain"])
            except (ValueError, KeyError, TypeError):
                self.fail(f"events.jsonl line {number}: malformed")
                continue
            if seq != expected:
                self.fail(
                    f"seq {seq}: out of place (expected seq {expected}): an event is missing, "
                    "duplicated, inserted or moved"
                )
            expected = seq + 1 if isinstance(seq, int) else expected + 1
            count += 1
            event = line.get("event")
            if event is not None:
                if h(canonical(event)) != content:
                    self.fail(f"seq {seq}: content does not match its sealed hash (changed)")
                if event.get("seq") != seq:
                    self.fail(f"seq {seq}: the event says seq {event.get('seq')}")
                if event.get("tenant_id") != self.tenant_id:
                    self.fail(f"seq {seq}: event of another tenant ({event.get('tenant_id')})")
                in_period = self.period["from"] <= event["occurred_at"] < self.period["to"]
                if not in_period:
                    self.fail(f"seq {seq}: shown in full but outside the bundle's period")
                report.add(event)
                if event.get("outcome") == "allowed":
                    allowed_checked += 1
                    try:
                        problem = self._membership_problem(event)
                    except (KeyError, TypeError):
                        problem = "malformed actor fields"
                    if problem:
                        self.fail(f"seq {seq}: segregation: {problem}")
            elif not line.get("elided"):
                self.fail(f"seq {seq}: neither content nor marked elided")
            chain = h(chain + content)
            if chain != stated_chain:
                self.fail(f"seq {seq}: chain hash does not follow from the previous event")
                chain = stated_chain  # report each break once, not every event after it
            tree.add(content)
            for cp in at_size.get(count, []):
                self._compare_checkpoint(count, cp, tree, chain)
        self.events_seen = count
        self.figures["events"] = count
        self.figures["events_in_period"] = report.events
        self.figures["allowed_events_checked_for_segregation"] = allowed_checked
        return report

    def _compare_checkpoint(self, size: int, cp: dict[str, Any], tree: Tree, chain: bytes) -> None:
        if tree.root().hex() != cp.get("root"):
            self.fail(
                f"checkpoint at size {size}: Merkle root does not match events 1..{size} "
                "(an event up to this point was changed, removed, added or reordered)"
            )
        if chain.hex() != cp.get("chain_head"):
            self.fail(f"checkpoint at size {size}: chain head does not match events 1..{size}")

    def _platform(
        self, platform: dict[str, Any], checkpoints: list[tuple[int, dict[str, Any]]]
    ) -> None:
        payload = self._check_signed(
            "platform checkpoint", platform.get("payload", ""), platform.get("signature", "")
        )
        if payload is None:
            return
        if payload.get("type") != PLATFORM_CHECKPOINT:
            self.fail("platform checkpoint: wrong type")
            return
        proof = platform.get("proof", {})
        digests = {h(canonical(cp)).hex() for _, cp in checkpoints}
        target = proof.get("checkpoint_payload_sha256")
        if target not in digests:
            self.fail("platform checkpoint: includes none of this bundle's checkpoints")
            return
        leaf_data = canonical({"tenant_id": self.tenant_id, "checkpoint": target})
        try:
            path = [bytes.fromhex(p) for p in proof["path"]]
            root = inclusion_root(proof["index"], proof["size"], leaf(leaf_data), path)
        except (KeyError, TypeError, ValueError):
            root = None
        if proof.get("size") != payload.get("tenants"):
            self.fail("platform checkpoint: proof size differs from the signed tenant count")
        if root is None or root.hex() != payload.get("root"):
            self.fail("platform checkpoint: inclusion proof of this tenant's checkpoint fails")
        self.figures["platform"] = f"signed over {payload.get('tenants')} tenant(s), included"

    def _report(self, stated: dict[str, Any], computed: Report) -> None:
        mine = computed.as_dict(self.period)
        for section in mine:
            if stated.get(section) != mine[section]:
                self.fail(f"report: section {section!r} does not match the events")


class Report:
    """The same counts the server's report holds (tenants/proof/bundle.py), recomputed."""

    def __init__(self) -> None:
        self.events = 0
        self.by_actor: Counter[str] = Counter()
        self.by_action: Counter[str] = Counter()
        self.by_outcome: Counter[str] = Counter()
        self.denied: list[dict[str, Any]] = []
        self.people: dict[str, dict[str, Any]] = {}
        self.break_glass: list[dict[str, Any]] = []

    def add(self, e: dict[str, Any]) -> None:
        self.events += 1
        self.by_actor[e.get("actor_username") or "(anonymous)"] += 1
        self.by_action[e.get("action")] += 1
        self.by_outcome[e.get("outcome")] += 1
        keys = (
            "seq",
            "occurred_at",
            "actor_username",
            "action",
            "resource_type",
            "resource_id",
            "reason",
            "client_ip",
        )
        brief = {k: e.get(k) for k in keys}
        if e.get("outcome") == "denied" and len(self.denied) < MAX_LISTED:
            self.denied.append(brief)
        if e.get("grant_id") and len(self.break_glass) < MAX_LISTED:
            self.break_glass.append({**brief, "grant_id": e["grant_id"]})
        if (
            e.get("outcome") == "allowed"
            and e.get("actor_user_id") is not None
            and e.get("auth_method") not in SYSTEM_METHODS
        ):
            key = f"{e['actor_user_id']}/{e.get('actor_membership_id')}"
            person = self.people.setdefault(
                key,
                {
                    "user_id": e["actor_user_id"],
                    "username": e.get("actor_username"),
                    "membership_id": e.get("actor_membership_id"),
                    "roles": [],
                    "grant_id": e.get("grant_id"),
                    "events": 0,
                    "first": e["occurred_at"],
                    "last": e["occurred_at"],
                },
            )
            person["events"] += 1
            person["first"] = min(person["first"], e["occurred_at"])
            person["last"] = max(person["last"], e["occurred_at"])
            if e.get("actor_role") not in person["roles"]:
                person["roles"].append(e.get("actor_role"))

    def as_dict(self, period: dict[str, Any]) -> dict[str, Any]:
        return {
            "period": period,
            "events": self.events,
            "by_actor": dict(sorted(self.by_actor.items())),
            "by_action": dict(sorted(self.by_action.items())),
            "by_outcome": dict(sorted(self.by_outcome.items())),
            "denied": self.denied,
            "people": sorted(self.people.values(), key=lambda p: (p["username"] or "", p["first"])),
            "break_glass_events": self.break_glass,
        }


def _trusted(entries: list[str]) -> dict[str, str]:
    keys = {}
    for entry in entries:
        key_id, sep, public = entry.partition(":")
        if not sep:
            raise SystemExit(f"--trusted-key {entry!r}: use keyid:base64(public key)")
        keys[key_id] = public
    return keys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bundle", help="the bundle ZIP exported by the platform")
    parser.add_argument(
        "--trusted-key",
        action="append",
        default=[],
        metavar="KEYID:BASE64",
        help="a public key published by the platform; repeat for rotated keys (pins them)",
    )
    args = parser.parse_args(argv)
    verifier = Verifier(args.bundle, _trusted(args.trusted_key))
    ok = verifier.run()
    f = verifier.figures
    if ok:
        print(
            f"OK: {f.get('events', 0)} events (seq 1..{f.get('events', 0)}, "
            f"{f.get('events_in_period', 0)} in the period, shown in full), "
            f"{f.get('checkpoints', 0)} signed checkpoints, "
            f"{f.get('membership_records', 0)} membership records, "
            f"{f.get('allowed_events_checked_for_segregation', 0)} allowed events each through "
            f"a membership of this tenant valid at the time; platform checkpoint: "
            f"{f.get('platform')}; keys {', '.join(f.get('keys', []))}"
            f"{' (pinned)' if f.get('keys_pinned') else ' (from the bundle: not pinned)'}; "
            f"{f.get('seconds')} s"
        )
        return 0
    print(f"FAILED: {len(verifier.failures)} problem(s)")
    for failure in verifier.failures[:MAX_PRINTED]:
        print(f"  {failure}")
    if len(verifier.failures) > MAX_PRINTED:
        print(f"  ... and {len(verifier.failures) - MAX_PRINTED} more")
    return 1


if __name__ == "__main__":
    sys.exit(main())
