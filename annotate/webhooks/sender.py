"""One HTTP POST to an address that was already checked (see targets.py).

The standard library's ``http.client`` is used on purpose: it never reads proxy variables from
the environment, never follows redirects, and lets us connect to the checked IP address while
sending the URL's host name in ``Host`` and in TLS (SNI and certificate verification), which
is what defeats DNS rebinding: nothing here resolves a name.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import time
from dataclasses import dataclass

from annotate.webhooks.targets import IPAddress, Target

RESPONSE_EXCERPT_BYTES = 512
RETRYABLE_4XX = frozenset({401, 403, 408, 425, 429})


@dataclass(frozen=True)
class SendResult:
    status_code: int | None  # None: no HTTP answer (connection, TLS or timeout error)
    error: str  # empty on 2xx
    duration_ms: int
    retryable: bool

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """TCP to the pinned address; TLS with SNI and certificate checks for the URL's host."""

    def __init__(self, address: str, port: int, *, server_hostname: str, timeout: float) -> None:
        super().__init__(address, port, timeout=timeout, context=ssl.create_default_context())
        self._server_hostname = server_hostname

    def connect(self) -> None:
        http.client.HTTPConnection.connect(self)
        self.sock = self._context.wrap_socket(  # type: ignore[attr-defined]
            self.sock, server_hostname=self._server_hostname
        )


def send(
    *,
    target: Target,
    addresses: list[IPAddress],
    body: bytes,
    headers: dict[str, str],
    connect_timeout: float,
    read_timeout: float,
) -> SendResult:
    """POST ``body`` to the first of ``addresses`` that accepts a connection.

    Guarantees: connects only to the given addresses; does not follow redirects (a 3xx is a
    final failure naming the status); reads at most a short excerpt of the response body; each
    network operation is bounded by its timeout.
    """
    started = time.monotonic()
    last_error = "no address to connect to"
    for address in addresses:
        conn: http.client.HTTPConnection
        if target.scheme == "https":
            conn = _PinnedHTTPSConnection(
                str(address), target.port, server_hostname=target.host, timeout=connect_timeout
            )
        else:
            conn = http.client.HTTPConnection(str(address), target.port, timeout=connect_timeout)
        try:
            try:
                conn.connect()
            except (OSError, ssl.SSLError) as exc:
                last_error = _describe(exc, "connect", connect_timeout)
                if isinstance(exc, ssl.SSLError):
                    break  # the host answered with bad TLS: another address will not be better
                continue
            assert conn.sock is not None
            conn.sock.settimeout(read_timeout)
            try:
                conn.request("POST", target.path, body=body, headers=headers)
                response = conn.getresponse()
                excerpt = response.read(RESPONSE_EXCERPT_BYTES)
            except (OSError, http.client.HTTPException) as exc:
                return SendResult(None, _describe(exc, "answer", read_timeout), _ms(started), True)
        finally:
            conn.close()
        return _result(response.status, excerpt, _ms(started))
    return SendResult(None, last_error, _ms(started), True)


def _result(status: int, excerpt: bytes, duration_ms: int) -> SendResult:
    if 200 <= status < 300:
        return SendResult(status, "", duration_ms, False)
    text = excerpt.decode("utf-8", errors="replace").strip()
    text = " ".join(text.split())[:200]
    error = f"HTTP {status}" + (f": {text}" if text else "")
    if 300 <= status < 400:
        return SendResult(status, f"{error} (redirects are not followed)", duration_ms, False)
    # Worth retrying: the receiver is down or busy, or does not know a rotated secret yet.
    # Other 4xx: it refused this delivery, and would refuse it again.
    retryable = status >= 500 or status in RETRYABLE_4XX
    return SendResult(status, error, duration_ms, retryable)


def _describe(exc: BaseException, phase: str, timeout: float) -> str:
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return f"timed out after {timeout:g} s waiting to {phase}"
    if isinstance(exc, ssl.SSLError):
        return f"TLS error: {exc.reason or exc}"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    return f"{type(exc).__name__}: {exc}"[:300]


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
