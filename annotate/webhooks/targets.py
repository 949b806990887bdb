"""Where a webhook may send: URL rules and the non-public address wall (SSRF).

A webhook makes the platform's workers connect to an address that a tenant chose. Without a
wall, a tenant could aim them at the platform's own database, Redis, a cloud metadata service
(169.254.169.254) or anything else on the private network. So:

* the URL is ``http://`` or ``https://``, with a host, no credentials, no fragment;
* the host is resolved, and **every** address it resolves to must be public: loopback,
  private (RFC 1918), unique-local, link-local, CGNAT (100.64/10), unspecified (0.0.0.0, ::),
  multicast, broadcast, documentation, benchmarking and reserved ranges are refused, and so
  are IPv6 forms that embed an IPv4 address (IPv4-mapped ``::ffff:a.b.c.d``, IPv4-compatible,
  NAT64 ``64:ff9b::/96``, 6to4 ``2002::/16``, Teredo) when the embedded address is refused;
* an operator may open networks on purpose with ``WEBHOOK_ALLOWED_NETWORKS`` (CIDRs);
* the check runs when a webhook is created or changed **and** at every delivery, after a fresh
  resolution; the delivery then connects to the very address that was checked (never resolving
  again), so a DNS answer that changes between check and connect (DNS rebinding) cannot reach
  a refused address. Redirects are never followed.

Pure functions: no Django models, no database. ``settings`` is read for the allowed networks.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

MAX_URL_LENGTH = 2000


def _nets(*specs: str) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(s) for s in specs)


# (network, what to call it in an error). Checked in order; the first match names the reason.
REFUSED_V4: tuple[tuple[IPNetwork, str], ...] = tuple(
    (net, label)
    for label, specs in (
        ("unspecified", ("0.0.0.0/8",)),
        ("loopback", ("127.0.0.0/8",)),
        ("private", ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")),
        ("shared (CGNAT)", ("100.64.0.0/10",)),
        ("link-local", ("169.254.0.0/16",)),
        ("reserved", ("192.0.0.0/24", "192.88.99.0/24", "240.0.0.0/4")),
        ("documentation", ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24")),
        ("benchmarking", ("198.18.0.0/15",)),
        ("multicast", ("224.0.0.0/4",)),
    )
    for net in _nets(*specs)
)
REFUSED_V6: tuple[tuple[IPNetwork, str], ...] = tuple(
    (net, label)
    for label, specs in (
        ("unspecified", ("::/128",)),
        ("loopback", ("::1/128",)),
        ("IPv4-compatible", ("::/96",)),
        ("discard-only", ("100::/64",)),
        ("NAT64 local-use", ("64:ff9b:1::/48",)),
        ("reserved", ("2001::/23", "5f00::/16")),
        ("documentation", ("2001:db8::/32", "3fff::/20")),
        ("unique-local", ("fc00::/7",)),
        ("link-local", ("fe80::/10",)),
        ("site-local", ("fec0::/10",)),
        ("multicast", ("ff00::/8",)),
    )
    for net in _nets(*specs)
)
NAT64 = ipaddress.ip_network("64:ff9b::/96")


class TargetRefused(ValueError):
    """The URL, or an address its host resolves to, may not receive webhooks. The message
    says why, and names no resolved address (which would make this an oracle of internal DNS)."""


class TargetUnresolvable(ValueError):
    """The host does not resolve (now). At delivery time this is worth a retry."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str  # as written in the URL, IDNA-encoded, without brackets
    port: int
    path: str  # path and query, as sent in the request line

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"


def parse_url(url: str) -> Target:
    """Check the shape of a webhook URL (no network). Raises ``TargetRefused``."""
    if len(url) > MAX_URL_LENGTH:
        raise TargetRefused(f"the URL is longer than {MAX_URL_LENGTH} characters")
    if any(ord(c) < 33 or ord(c) == 127 for c in url):
        raise TargetRefused("the URL contains spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise TargetRefused(f"not a valid URL ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise TargetRefused("the URL must start with https:// or http://")
    if parts.username is not None or parts.password is not None:
        raise TargetRefused(
            "credentials in the URL are not accepted; receivers authenticate deliveries by "
            "their signature"
        )
    if parts.fragment:
        raise TargetRefused("the URL must not have a #fragment")
    host = parts.hostname or ""
    if not host:
        raise TargetRefused("the URL has no host")
    try:
        host = host.encode("idna").decode("ascii") if not _is_ip_literal(host) else host
    except UnicodeError:
        raise TargetRefused(
            "the host name is not a valid (internationalised) domain name"
        ) from None
    if port == 0:
        raise TargetRefused("port 0 is not a valid port")
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return Target(scheme, host, port or (443 if scheme == "https" else 80), path)


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def allowed_networks() -> tuple[IPNetwork, ...]:
    """The operator's exceptions (``WEBHOOK_ALLOWED_NETWORKS``), parsed at start-up."""
    return tuple(settings.WEBHOOK_ALLOWED_NETWORKS)


def refusal_reason(address: IPAddress, allowed: Iterable[IPNetwork] | None = None) -> str | None:
    """Why ``address`` may not receive webhooks (a category such as ``"loopback"``), or None.

    An address inside an allowed network is accepted whatever its category. IPv6 forms that
    embed an IPv4 address are judged by the embedded address as well.
    """
    allowed = tuple(allowed_networks() if allowed is None else allowed)
    candidates: list[IPAddress] = [address]
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address.teredo is not None:
            embedded = address.teredo[1]  # the client's (obfuscated) IPv4 address
        if embedded is None and address in NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            candidates.append(embedded)
    if any(c in net for c in candidates for net in allowed if c.version == net.version):
        return None
    for candidate in reversed(candidates):  # the embedded address first: it is the real target
        table = REFUSED_V4 if candidate.version == 4 else REFUSED_V6
        for net, label in table:
            if candidate in net:
                return label
        if isinstance(candidate, ipaddress.IPv4Address) and candidate.is_private:
            return "private"
        if not candidate.is_global:
            return "non-public"
    return None


Resolver = Callable[[str, int], list[str]]


def system_resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (the system resolver, like any client would)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise TargetUnresolvable(f"the host {host!r} does not resolve ({exc})") from None
    addresses: list[str] = []
    for family, _type, _proto, _name, sockaddr in infos:
        if family in (socket.AF_INET, socket.AF_INET6):
            text = str(sockaddr[0]).split("%", 1)[0]  # drop an IPv6 zone id
            if text not in addresses:
                addresses.append(text)
    if not addresses:
        raise TargetUnresolvable(f"the host {host!r} has no IPv4 or IPv6 address")
    return addresses


# Tests replace this to play DNS tricks; production always uses the system resolver.
resolve: Resolver = system_resolve


def resolve_checked(target: Target) -> list[IPAddress]:
    """Resolve the target's host and check every address. Returns the addresses to connect
    to, in resolver order; raises ``TargetRefused`` if any is refused (a name that resolves to
    a public and a private address is refused as a whole), ``TargetUnresolvable`` if none."""
    addresses = [ipaddress.ip_address(a) for a in resolve(target.host, target.port)]
    allowed = allowed_networks()
    for address in addresses:
        reason = refusal_reason(address, allowed)
        if reason is not None:
            what = "is" if _is_ip_literal(target.host) else "resolves to"
            raise TargetRefused(
                f"the host {what} a {reason} address; webhooks are delivered to public "
                "addresses only (an operator can allow networks with WEBHOOK_ALLOWED_NETWORKS)"
            )
    return addresses


def check_url(url: str) -> Target:
    """Shape and address checks together, as done when a webhook is created or changed."""
    target = parse_url(url)
    try:
        resolve_checked(target)
    except TargetUnresolvable as exc:
        raise TargetRefused(str(exc)) from None
    return target
