"""A real HTTP receiver on 127.0.0.1 (a thread running http.server) that checks signatures."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    signature_valid: bool
    at: float


@dataclass
class Receiver:
    """Answers each POST with the next status of ``statuses`` (then ``default``), after
    checking ``X-Annotate-Signature`` against ``secret`` (401 if it does not match)."""

    port: int = 0
    secret: str = ""
    statuses: list[int] = field(default_factory=list)
    default: int = 200
    delay: float = 0.0
    headers_out: dict[str, str] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str = "/hook", host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def wait_for(self, count: int, timeout: float = 30.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.received) >= count:
                    return list(self.received)
            time.sleep(0.05)
        raise AssertionError(f"the receiver got {len(self.received)} of {count} deliveries")


def verify(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """What a receiver does (docs/webhooks.md): recompute the HMAC over "<timestamp>.<body>"."""
    timestamp = headers.get("X-Annotate-Timestamp", "")
    expected = (
        "sha256="
        + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    )
    fresh = timestamp.isdigit() and abs(time.time() - int(timestamp)) < 300
    return fresh and hmac.compare_digest(expected, headers.get("X-Annotate-Signature", ""))


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = dict(self.headers.items())
            valid = verify(receiver.secret, headers, body)
            with receiver.lock:
                receiver.received.append(
                    Received(self.path, headers, body, valid, time.monotonic())
                )
                status = receiver.statuses.pop(0) if receiver.statuses else receiver.default
            if receiver.delay:
                time.sleep(receiver.delay)
            if not valid:
                status = 401
            self.send_response(status)
            for name, value in receiver.headers_out.items():
                self.send_header(name, value)
            payload = f"status {status}".encode()
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def allow_loopback(settings: Any) -> None:
    """This test's operator allows 127.0.0.1 (the local receiver), and nothing else private."""
    settings.WEBHOOK_ALLOWED_NETWORKS = [ipaddress.ip_network("127.0.0.1/32")]
