"""The non-public address wall: URL shape, every refused range, allowed networks, DNS answers."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from annotate.webhooks import targets
from annotate.webhooks.targets import TargetRefused, parse_url, refusal_reason
from tests.helpers import django_start_up_error

REFUSED = [
    ("127.0.0.1", "loopback"),
    ("127.255.0.9", "loopback"),
    ("0.0.0.0", "unspecified"),  # noqa: S104 - an address under test, not a bind
    ("0.1.2.3", "unspecified"),
    ("10.1.2.3", "private"),
    ("172.16.0.1", "private"),
    ("172.31.255.254", "private"),
    ("192.168.1.1", "private"),
    ("100.64.0.1", "shared (CGNAT)"),
    ("100.127.255.254", "shared (CGNAT)"),
    ("169.254.169.254", "link-local"),  # cloud metadata
    ("192.0.0.8", "reserved"),
    ("192.0.2.10", "documentation"),
    ("198.18.0.1", "benchmarking"),
    ("224.0.0.1", "multicast"),
    ("239.255.255.250", "multicast"),
    ("240.0.0.1", "reserved"),
    ("255.255.255.255", "reserved"),
    ("::1", "loopback"),
    ("::", "unspecified"),
    ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped
    ("::ffff:10.0.0.1", "private"),
    ("::ffff:169.254.169.254", "link-local"),
    ("::127.0.0.1", "IPv4-compatible"),
    ("64:ff9b::a00:1", "private"),  # NAT64 of 10.0.0.1
    ("64:ff9b::7f00:1", "loopback"),  # NAT64 of 127.0.0.1
    ("2002:a00:1::1", "private"),  # 6to4 of 10.0.0.1
    ("2002:7f00:1::1", "loopback"),  # 6to4 of 127.0.0.1
    ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "documentation"),  # Teredo of 192.0.2.45
    ("2001:0:4136:e378:8000:63bf:f7f7:f7f7", "reserved"),  # Teredo of 8.8.8.8
    ("2001:db8::1", "documentation"),
    ("fc00::1", "unique-local"),
    ("fd12:3456::1", "unique-local"),
    ("fe80::1", "link-local"),
    ("fec0::1", "site-local"),
    ("ff02::1", "multicast"),
    ("100::1", "discard-only"),
]
PUBLIC = ["93.184.216.34", "8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "2a00:1450:4001::1"]


@pytest.mark.parametrize(("address", "reason"), REFUSED)
def test_non_public_addresses_are_refused_with_their_category(address: str, reason: str) -> None:
    assert refusal_reason(ipaddress.ip_address(address), allowed=()) == reason


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_are_accepted(address: str) -> None:
    assert refusal_reason(ipaddress.ip_address(address), allowed=()) is None


def test_an_operator_allowed_network_opens_exactly_that_network() -> None:
    allowed = [ipaddress.ip_network("10.5.0.0/16"), ipaddress.ip_network("fd00:1::/32")]
    assert refusal_reason(ipaddress.ip_address("10.5.9.9"), allowed) is None
    assert refusal_reason(ipaddress.ip_address("::ffff:10.5.9.9"), allowed) is None
    assert refusal_reason(ipaddress.ip_address("fd00:1::7"), allowed) is None
    assert refusal_reason(ipaddress.ip_address("10.6.0.1"), allowed) == "private"
    assert refusal_reason(ipaddress.ip_address("127.0.0.1"), allowed) == "loopback"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.com/x", "https:// or http://"),
        ("file:///etc/passwd", "https:// or http://"),
        ("gopher://127.0.0.1:6379/_FLUSHALL", "https:// or http://"),
        ("https://user:pw@example.com/", "credentials"),
        ("https://example.com/#frag", "fragment"),
        ("https:///path", "no host"),
        ("https://exa mple.com/", "spaces or control"),
        ("https://example.com/\r\nX-Injected: 1", "spaces or control"),
        ("https://example.com:99999/", "not a valid URL"),
        ("https://example.com:0/", "port 0"),
        ("https://" + "a" * 2000 + ".com/", "longer than 2000"),
    ],
)
def test_malformed_urls_are_refused_naming_why(url: str, message: str) -> None:
    with pytest.raises(TargetRefused, match=message):
        parse_url(url)


def test_url_parts() -> None:
    t = parse_url("https://Hooks.Example.com/in?x=1")
    assert (t.scheme, t.host, t.port, t.path, t.host_header) == (
        "https",
        "hooks.example.com",
        443,
        "/in?x=1",
        "hooks.example.com",
    )
    v6 = parse_url("http://[2606:4700::1]:8080")
    assert (v6.host, v6.path, v6.host_header) == ("2606:4700::1", "/", "[2606:4700::1]:8080")
    assert parse_url("https://bücher.example/").host == "xn--bcher-kva.example"


def _fake_dns(monkeypatch: Any, answers: dict[str, list[str]]) -> None:
    def resolve(host: str, port: int) -> list[str]:
        if host not in answers:
            raise targets.TargetUnresolvable(f"the host {host!r} does not resolve")
        return answers[host]

    monkeypatch.setattr(targets, "resolve", resolve)


def test_every_resolved_address_must_be_public(monkeypatch: Any, settings: Any) -> None:
    settings.WEBHOOK_ALLOWED_NETWORKS = []
    _fake_dns(
        monkeypatch,
        {
            "ok.example": ["93.184.216.34", "2606:4700::1"],
            "mixed.example": ["93.184.216.34", "10.0.0.5"],
            "meta.example": ["169.254.169.254"],
        },
    )
    assert targets.check_url("https://ok.example/h").host == "ok.example"
    with pytest.raises(TargetRefused, match="resolves to a private address"):
        targets.check_url("https://mixed.example/h")
    with pytest.raises(TargetRefused, match="resolves to a link-local address"):
        targets.check_url("https://meta.example/h")
    with pytest.raises(TargetRefused, match="does not resolve"):
        targets.check_url("https://nowhere.example/h")


def test_literal_and_odd_spellings_of_loopback_are_caught_after_resolution(
    settings: Any,
) -> None:
    settings.WEBHOOK_ALLOWED_NETWORKS = []
    # The system resolver turns these spellings into 127.0.0.1 / ::1; the check sees that.
    for url in (
        "http://127.0.0.1/",
        "http://localhost:8000/",
        "http://2130706433/",  # decimal 127.0.0.1
        "http://0x7f.1/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://0.0.0.0:6379/",
    ):
        with pytest.raises(TargetRefused, match="address; webhooks are delivered to public"):
            targets.check_url(url)


def test_a_bad_allowed_networks_setting_stops_start_up() -> None:
    stderr = django_start_up_error({"WEBHOOK_ALLOWED_NETWORKS": "10.0.0.0/8,not-a-net"})
    assert "WEBHOOK_ALLOWED_NETWORKS: 'not-a-net' is not an IP network" in stderr
