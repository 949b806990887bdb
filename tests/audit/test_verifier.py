"""The standalone verifier against real bundles, and the test vectors: any change to any
event, a deleted, inserted or reordered event, a swapped signature, an outsider's allowed
event: verification fails and names it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tenants.proof.canonical import EVENT_FIELDS
from tests.audit.conftest import (
    VERIFIER_PATH,
    dump_lines,
    lines_of,
    make_bundle,
    rewrite,
    traffic,
    verify,
)
from tests.conftest import World, owner_conninfo


def _full_lines(path: Path) -> list[dict[str, Any]]:
    import zipfile

    with zipfile.ZipFile(path) as z:
        return lines_of(z.read("events.jsonl"))


def test_a_genuine_bundle_verifies_ok_as_a_standalone_script(bundle: Path) -> None:
    source = VERIFIER_PATH.read_text()
    assert "django" not in source.lower().replace("no django", "")
    result = subprocess.run(
        [sys.executable, "-I", str(VERIFIER_PATH), str(bundle)],
        capture_output=True,
        text=True,
        cwd="/",
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("OK: ")
    assert "platform checkpoint: signed over 2 tenant(s), included" in result.stdout


def test_the_report_names_people_memberships_and_denied_attempts(bundle: Path) -> None:
    import zipfile

    with zipfile.ZipFile(bundle) as z:
        report = json.loads(z.read("report.json"))
        manifest = json.loads(z.read("manifest.json"))
    assert manifest["tenant"]["slug"] == "tenant-a"
    assert report["by_outcome"]["denied"] == 1
    assert [d["actor_username"] for d in report["denied"]] == ["b-owner"]
    people = {p["username"]: p for p in report["people"]}
    assert set(people) == {"a-owner", "a-manager"}
    assert people["a-owner"]["roles"] == ["owner"] and people["a-owner"]["events"] == 2
    # Metadata only: the project's name never appears (a content leak into the audit trail).
    with zipfile.ZipFile(bundle) as z:
        everything = b"".join(z.read(n) for n in z.namelist())
    assert b"A secret project" not in everything


def test_pinned_keys_must_match(bundle: Path) -> None:
    code, out = verify(bundle, "--trusted-key", "local-1:" + "A" * 43 + "=")
    assert code == 1 and "differs from the trusted key" in out


@pytest.mark.parametrize("field", [f for f in EVENT_FIELDS])
def test_changing_any_field_of_an_event_fails_and_names_its_seq(bundle: Path, field: str) -> None:
    lines = _full_lines(bundle)
    target = next(line for line in lines if "event" in line and line["seq"] >= 2)
    event = target["event"]
    value = event[field]
    if isinstance(value, bool):
        event[field] = not value
    elif isinstance(value, int):
        event[field] = value + 1
    elif isinstance(value, dict):
        event[field] = {**value, "x": 1}
    elif value is None:
        event[field] = "00000000-0000-0000-0000-000000000001"
    else:
        event[field] = value + "x"
    code, out = verify(rewrite(bundle, "events.jsonl", lambda _: dump_lines(lines)))
    assert code == 1
    assert f"seq {target['seq']}: content does not match its sealed hash" in out, out


def test_a_changed_event_with_a_recomputed_hash_breaks_the_chain(bundle: Path) -> None:
    from tenants.proof.canonical import content_hash

    lines = _full_lines(bundle)
    target = lines[2]
    target["event"]["action"] = "project.nothing"
    target["hash"] = content_hash(target["event"]).hex()
    code, out = verify(rewrite(bundle, "events.jsonl", lambda _: dump_lines(lines)))
    assert code == 1
    assert f"seq {target['seq']}: chain hash does not follow" in out
    assert "Merkle root does not match" in out


def test_deleting_an_event_fails_and_names_the_gap(bundle: Path) -> None:
    lines = _full_lines(bundle)
    del lines[3]
    code, out = verify(rewrite(bundle, "events.jsonl", lambda _: dump_lines(lines)))
    assert code == 1
    assert "seq 5: out of place (expected seq 4)" in out


def test_inserting_an_event_fails(bundle: Path) -> None:
    lines = _full_lines(bundle)
    forged = json.loads(json.dumps(lines[1]))
    forged["event"]["action"] = "project.read"
    lines.insert(2, forged)
    code, out = verify(rewrite(bundle, "events.jsonl", lambda _: dump_lines(lines)))
    assert code == 1
    assert "seq 2: out of place (expected seq 3)" in out


def test_reordering_two_events_fails_and_names_them(bundle: Path) -> None:
    lines = _full_lines(bundle)
    lines[2], lines[3] = lines[3], lines[2]
    code, out = verify(rewrite(bundle, "events.jsonl", lambda _: dump_lines(lines)))
    assert code == 1
    assert "seq 4: out of place (expected seq 3)" in out
    assert "seq 3: out of place (expected seq 5)" in out


def test_swapping_a_signature_fails(world: World, token_client: Any, tmp_path: Path) -> None:
    from tenants.proof.sealing import audit_seal_tenant

    traffic(world, token_client)
    audit_seal_tenant(tenant_id=world.a.id)
    traffic(world, token_client)  # a second checkpoint
    path = make_bundle(world, tmp_path / "b.zip")

    def swap(data: bytes) -> bytes:
        cps = lines_of(data)
        assert len(cps) >= 2
        cps[0]["signature"], cps[1]["signature"] = cps[1]["signature"], cps[0]["signature"]
        return dump_lines(cps)

    code, out = verify(rewrite(path, "checkpoints.jsonl", swap))
    assert code == 1
    assert "checkpoint #1: signature does not verify" in out
    assert "checkpoint #2: signature does not verify" in out


def test_an_edited_report_fails(bundle: Path) -> None:
    def edit(data: bytes) -> bytes:
        report = json.loads(data)
        report["denied"] = []
        return json.dumps(report).encode()

    code, out = verify(rewrite(bundle, "report.json", edit))
    assert code == 1 and "report: section 'denied'" in out


def _insert_allowed_event(tenant_id: Any, user_id: int, membership_id: Any, username: str) -> None:
    """An allowed event written straight into the table (a bug, or an insider), then sealed
    and signed like any other: only the segregation check can catch it."""
    with psycopg.connect(owner_conninfo()) as conn:
        conn.execute("SELECT set_config('app.tenant_id', %s, true)", [str(tenant_id)])
        conn.execute(
            "INSERT INTO tenants_accessevent (tenant_id, occurred_at, actor_user_id, "
            "actor_username, actor_membership_id, actor_tenant_id, actor_role, auth_method, "
            "credential_id, action, resource_type, resource_id, outcome, reason, request_id, "
            "detail) VALUES (%s, now(), %s, %s, %s, %s, 'owner', 'token', '', 'project.read', "
            "'project', '', 'allowed', '', '', '{}')",
            [tenant_id, user_id, username, membership_id, tenant_id],
        )


@pytest.fixture
def committed_world(committed: None) -> World:
    from tests.conftest import build_world

    return build_world()


def test_an_allowed_event_by_an_outsider_fails_segregation_even_when_sealed_and_signed(
    committed_world: World, token_client: Any, tmp_path: Path
) -> None:
    w = committed_world
    traffic(w, token_client)
    outsider = w.m("b", "owner")
    _insert_allowed_event(w.a.id, outsider.user_id, outsider.id, "b-owner")
    code, out = verify(make_bundle(w, tmp_path / "b.zip"))
    assert code == 1
    assert "segregation: membership" in out and "is not a membership of this tenant" in out
    seq = int(out.split("seq ")[1].split(":")[0])
    assert seq > 1


def test_an_allowed_event_after_the_membership_ended_fails_segregation(
    committed_world: World, token_client: Any, tmp_path: Path
) -> None:
    from tenants.scoping import tenant_context
    from tenants.services.memberships import membership_end

    w = committed_world
    traffic(w, token_client)
    leaver = w.m("a", "annotator")
    with tenant_context(w.a.id):
        membership_end(membership=leaver, ended_by=None)
    _insert_allowed_event(w.a.id, leaver.user_id, leaver.id, "a-annotator")
    code, out = verify(make_bundle(w, tmp_path / "b.zip"))
    assert code == 1
    assert "was not active at that time" in out
