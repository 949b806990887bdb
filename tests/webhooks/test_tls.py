"""HTTPS delivery to the pinned address: TLS is verified against the URL's host name (SNI and
certificate), never against the IP address the worker connects to."""

from __future__ import annotations

import datetime
import ssl
import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from annotate.webhooks import sender, targets
from annotate.webhooks.models import WebhookDelivery
from annotate.webhooks.services import delivery_attempt, webhook_create, webhook_emit
from tenants.audit import Actor
from tenants.scoping import tenant_context
from tests.conftest import World, build_world
from tests.webhooks.conftest import Receiver, _handler

HOST = "hooks.customer.example"


def _self_signed(tmp: Path, name: str) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / f"{name}.pem", tmp / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture
def tls_receiver(tmp_path: Path, request: Any) -> Iterator[tuple[Receiver, Path]]:
    """An HTTPS receiver on 127.0.0.1 whose certificate names ``request.param``."""
    cert, key = _self_signed(tmp_path, request.param)
    state = Receiver()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.daemon_threads = True
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, cert
    finally:
        server.shutdown()
        server.server_close()


def _deliver(w: World, receiver: Receiver, cert: Path, monkeypatch: Any) -> WebhookDelivery:
    real = ssl.create_default_context
    # The test's CA is trusted in place of the system's; nothing else about TLS changes.
    monkeypatch.setattr(sender.ssl, "create_default_context", lambda: real(cafile=str(cert)))
    monkeypatch.setattr(targets, "resolve", lambda host, port: ["127.0.0.1"])
    with tenant_context(w.a.id):
        _, receiver.secret = webhook_create(
            membership=w.m("a", "manager"),
            url=f"https://{HOST}:{receiver.port}/hook",
            events=["item.completed"],
        )
        webhook_emit(tenant_id=w.a.id, event="item.completed", project_id=None, payload={})
        delivery = WebhookDelivery.objects.get()
    delivery_attempt(tenant_id=w.a.id, delivery_id=delivery.id, actor=Actor.for_task("t", "1"))
    with tenant_context(w.a.id):
        return WebhookDelivery.objects.get()


@pytest.mark.parametrize("tls_receiver", [HOST], indirect=True)
def test_https_to_the_pinned_address_verifies_the_urls_host(
    committed: None, allow_loopback: None, tls_receiver: Any, monkeypatch: Any
) -> None:
    receiver, cert = tls_receiver
    w = build_world()
    delivery = _deliver(w, receiver, cert, monkeypatch)
    assert (delivery.state, delivery.last_status_code) == ("delivered", 200)
    (got,) = receiver.received
    assert got.signature_valid and got.headers["Host"] == f"{HOST}:{receiver.port}"


@pytest.mark.parametrize("tls_receiver", ["someone-else.example"], indirect=True)
def test_a_certificate_for_another_name_is_refused(
    committed: None, allow_loopback: None, tls_receiver: Any, monkeypatch: Any
) -> None:
    receiver, cert = tls_receiver
    w = build_world()
    delivery = _deliver(w, receiver, cert, monkeypatch)
    assert delivery.state == "pending"  # retried later: certificates get fixed
    assert delivery.last_error.startswith("TLS error: CERTIFICATE_VERIFY_FAILED")
    assert receiver.received == []
