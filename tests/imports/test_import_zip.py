"""ZIP imports with a manifest and images; media served only to those allowed, and logged."""

from __future__ import annotations

import io
import json
import os
import stat
import zipfile

import pytest
from PIL import Image
from rest_framework.test import APIClient

from annotate.models import Item
from tenants.models import AccessEvent
from tenants.scoping import tenant_context
from tests.conftest import World
from tests.factories import token_for
from tests.imports.conftest import item_count

IMAGE_SCHEMA = {
    "version": 1,
    "data": {"image": {"type": "image"}, "caption": {"type": "text", "required": False}},
    "fields": [{"name": "label", "type": "choices", "choices": ["cat", "dog"]}],
}


def png(width: int = 4, height: int = 3, color: str = "red") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, "PNG")
    return out.getvalue()


def make_zip(
    files: dict[str, bytes], manifest: list[dict] | None = None, *, links: tuple[str, ...] = ()
) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        if manifest is not None:
            archive.writestr("manifest.jsonl", "".join(json.dumps(r) + "\n" for r in manifest))
        for name, data in files.items():
            archive.writestr(name, data)
        for name in links:
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, "/etc/passwd")
    return buffer.getvalue()


@pytest.fixture
def zworld(iworld: World) -> World:
    with tenant_context(iworld.a.id):
        iworld.project_a.label_schema = IMAGE_SCHEMA
        iworld.project_a.save(update_fields=["label_schema"])
    return iworld


def test_zip_with_images_lands_and_media_is_served_and_logged(
    zworld: World, ingest, manager_a: APIClient
) -> None:
    body = make_zip(
        {"img/cat.png": png(color="red"), "img/dog.png": png(8, 6, "blue")},
        [
            {"external_id": "c", "image": "img/cat.png", "caption": "a cat"},
            {"external_id": "d", "data": {"image": "img/dog.png"}},
            {"external_id": "c2", "image": "./img/cat.png"},
        ],
    )
    job = ingest(body, "zip")
    assert (job.state, job.items_total) == ("succeeded", 3), job.errors
    with tenant_context(zworld.a.id):
        dog = Item.objects.get(external_id="d")
        c2 = Item.objects.get(external_id="c2")
    (ref,) = dog.media
    assert (ref["field"], ref["name"], ref["content_type"], ref["width"], ref["height"]) == (
        "image",
        "img/dog.png",
        "image/png",
        8,
        6,
    )
    with tenant_context(zworld.a.id):
        cat = Item.objects.get(external_id="c")
    assert c2.media[0]["key"] == cat.media[0]["key"]  # one file, stored once
    base = f"/api/v1/t/tenant-a/projects/{zworld.project_a.id}/items/{dog.id}/media/image"
    response = manager_a.get(base)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == png(8, 6, "blue")
    assert response["Content-Type"] == "image/png"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"].startswith("sandbox")
    assert response["Content-Disposition"].startswith("inline")

    signed = manager_a.post(f"{base}/url").json()
    anonymous = APIClient()
    fetched = anonymous.get(signed["url"])
    assert fetched.status_code == 200
    assert b"".join(fetched.streaming_content) == png(8, 6, "blue")
    tampered = signed["url"][:-3] + ("AAA" if not signed["url"].endswith("AAA") else "BBB")
    assert anonymous.get(tampered).status_code == 404
    refused = anonymous.post(signed["url"])
    assert (refused.status_code, refused["Allow"]) == (405, "GET")
    assert refused.json()["error"]["code"] == "method_not_allowed"
    with tenant_context(zworld.a.id):
        reads = list(
            AccessEvent.objects.filter(action="media.read").values_list(
                "auth_method", "actor_username"
            )
        )
    assert reads == [("token", "a-manager"), ("signed_url", "a-manager")]

    # The stored blob is encrypted: the PNG bytes are nowhere on disk in clear.
    from pathlib import Path

    from django.conf import settings

    stored = (Path(settings.STORAGE_ROOT) / ref["key"]).read_bytes()
    assert png(8, 6, "blue")[:64] not in stored


def test_signed_url_expires(zworld: World, ingest, manager_a: APIClient, settings) -> None:
    job = ingest(make_zip({"a.png": png()}, [{"image": "a.png"}]), "zip")
    with tenant_context(zworld.a.id):
        item = Item.objects.get(dataset_id=job.dataset_id)
    url = manager_a.post(
        f"/api/v1/t/tenant-a/projects/{zworld.project_a.id}/items/{item.id}/media/image/url"
    ).json()["url"]
    settings.MEDIA_URL_TTL_SECONDS = -1  # every signature is now too old
    assert APIClient().get(url).status_code == 404


def test_annotator_fetches_media_only_through_their_lease_outsider_never(
    zworld: World, ingest, manager_a
) -> None:
    job = ingest(make_zip({"a.png": png()}, [{"image": "a.png"}]), "zip")
    with tenant_context(zworld.a.id):
        item = Item.objects.get(dataset_id=job.dataset_id)
    url = f"/api/v1/t/tenant-a/projects/{zworld.project_a.id}/items/{item.id}/media/image"
    annotator = APIClient()
    annotator.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(zworld.m('a', 'annotator')).raw}")
    assert annotator.get(url).status_code == 404  # no grant: cannot even see the project
    manager_a.post(
        f"/api/v1/t/tenant-a/projects/{zworld.project_a.id}/permissions",
        {"membership": str(zworld.m("a", "annotator").id), "permission": "annotate"},
        format="json",
    )
    assert annotator.get(url).status_code == 404  # granted, but the item is not leased to them
    leased = annotator.post(f"/api/v1/t/tenant-a/projects/{zworld.project_a.id}/next")
    assert leased.status_code == 201 and leased.json()["item"]["id"] == str(item.id)
    assert annotator.get(url).status_code == 200
    outsider = APIClient()
    outsider.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(zworld.m('b', 'owner')).raw}")
    assert outsider.get(url).status_code == 404


@pytest.mark.parametrize(
    ("files", "manifest", "links", "field", "fragment"),
    [
        ({"../evil.png": png()}, [{"image": "x"}], (), "../evil.png", "unsafe path"),
        ({"/abs.png": png()}, [{"image": "x"}], (), "/abs.png", "unsafe path"),
        ({"a.png": png()}, [{"image": "a.png"}], ("link.png",), "link.png", "symbolic links"),
        ({"a.png": png()}, None, (), "(archive)", "exactly one manifest"),
        (
            {"a.png": b"<svg onload=alert(1)>"},
            [{"image": "a.png"}],
            (),
            "data.image",
            "does not match",
        ),
        ({"a.svg": b"<svg/>"}, [{"image": "a.svg"}], (), "data.image", "does not match"),
        ({"a.jpg": png()}, [{"image": "a.jpg"}], (), "data.image", "does not match"),
        (
            {"a.png": png()},
            [{"image": "missing.png"}],
            (),
            "data.image",
            "is not a file in the archive",
        ),
        (
            {"a.png": png()},
            [{"caption": "no image"}],
            (),
            "data.image",
            "required field is missing",
        ),
    ],
)
def test_bad_archives_fail_naming_the_entry(
    zworld: World, ingest, files, manifest, links, field: str, fragment: str
) -> None:
    job = ingest(make_zip(files, manifest, links=links), "zip")
    assert job.state == "failed"
    first = job.errors[0]
    assert first["field"] == field and fragment in first["message"], first
    assert item_count(zworld) == 0


def test_zip_bomb_is_refused_by_ratio_and_total(zworld: World, ingest, settings) -> None:
    bomb = make_zip({"zeros.png": b"\0" * 5_000_000}, [{"image": "zeros.png"}])
    job = ingest(bomb, "zip")
    assert job.state == "failed" and "IMPORT_ZIP_MAX_RATIO" in job.errors[0]["message"]
    settings.IMPORT_ZIP_MAX_TOTAL_BYTES = 2000
    noisy = io.BytesIO()
    Image.frombytes("RGB", (60, 60), os.urandom(60 * 60 * 3)).save(noisy, "PNG")
    job = ingest(make_zip({"a.png": noisy.getvalue()}, [{"image": "a.png"}]), "zip")
    assert job.state == "failed" and "IMPORT_ZIP_MAX_TOTAL_BYTES" in job.errors[0]["message"]


def test_image_over_the_pixel_limit(zworld: World, ingest, settings) -> None:
    settings.IMAGE_MAX_PIXELS = 100
    job = ingest(make_zip({"big.png": png(20, 20)}, [{"image": "big.png"}]), "zip")
    assert job.state == "failed"
    assert "20x20 pixels exceed the limit of 100 (IMAGE_MAX_PIXELS)" in job.errors[0]["message"]
    assert item_count(zworld) == 0


def test_not_a_zip(zworld: World, ingest) -> None:
    job = ingest(b"this is not an archive", "zip")
    assert job.state == "failed" and "not a readable ZIP archive" in job.errors[0]["message"]


def test_failed_zip_import_keeps_no_media(zworld: World, ingest) -> None:
    from pathlib import Path

    from django.conf import settings

    job = ingest(
        make_zip({"a.png": png(), "b.png": b"nope"}, [{"image": "a.png"}, {"image": "b.png"}]),
        "zip",
    )
    assert job.state == "failed"
    media_dir = (
        Path(settings.STORAGE_ROOT)
        / "tenants"
        / str(zworld.a.id)
        / "imports"
        / str(job.id)
        / "media"
    )
    assert not media_dir.exists() or not any(media_dir.iterdir())
