"""Which URLs HTTP-invoked functions may call: host allow-list, HTTPS and private-address rules."""

from __future__ import annotations

import asyncio
import fnmatch
import ipaddress
import socket
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
DNS_PORT = 443


class UrlRejected(Exception):
    """A URL failed validation; the message is the reference's reason text."""


def is_private(address: IPAddress) -> bool:
    """Loopback, private, link-local, broadcast, documentation, unspecified (IPv4); loopback,
    unique-local, link-local, unspecified, multicast (IPv6)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if isinstance(address, ipaddress.IPv4Address):
        return (
            address.is_loopback
            or address.is_private
            or address.is_link_local
            or address.is_unspecified
            or address == ipaddress.IPv4Address("255.255.255.255")
            or any(address in net for net in _IPV4_DOCUMENTATION)
        )
    return (
        address.is_loopback
        or address.is_link_local
        or address.is_unspecified
        or address.is_multicast
        or address in _IPV6_UNIQUE_LOCAL
    )


_IPV4_DOCUMENTATION = tuple(
    ipaddress.IPv4Network(net) for net in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24")
)
_IPV6_UNIQUE_LOCAL = ipaddress.IPv6Network("fc00::/7")


class UrlPolicy:
    """The ``security`` section of ``modules::http_functions::HttpFunctionsModule``."""

    def __init__(self, allowlist: list[str], block_private_ips: bool, require_https: bool) -> None:
        self.allowlist = [p.lower() for p in allowlist] or ["*"]
        self.block_private_ips = block_private_ips
        self.require_https = require_https

    def check_static(self, url: str) -> str:
        """Every rule that needs no DNS; returns the host. Raises :class:`UrlRejected`."""
        try:
            parts = urlsplit(url)
            host = parts.hostname
            parts.port  # noqa: B018 - raises ValueError for a malformed port
        except ValueError:
            raise UrlRejected("Invalid URL") from None
        if parts.scheme not in ("http", "https") or not host:
            raise UrlRejected("Invalid URL")
        if self.require_https and parts.scheme != "https":
            raise UrlRejected("HTTPS is required")
        if not any(self._host_matches(pattern, host) for pattern in self.allowlist):
            raise UrlRejected("URL not in allowlist")
        if self.block_private_ips:
            literal = _ip_literal(host)
            if literal is not None and is_private(literal):
                raise UrlRejected("Private IP blocked")
        return host

    async def check(self, url: str) -> None:
        """All rules, resolving the host when private addresses are blocked."""
        host = self.check_static(url)
        if not self.block_private_ips or _ip_literal(host) is not None:
            return
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, DNS_PORT, type=socket.SOCK_STREAM)
        except OSError:
            raise UrlRejected("DNS lookup failed") from None
        for info in infos:
            if is_private(ipaddress.ip_address(info[4][0].split("%", 1)[0])):
                raise UrlRejected("Private IP blocked")

    @staticmethod
    def _host_matches(pattern: str, host: str) -> bool:
        if "://" in pattern or "/" in pattern:
            return False
        return fnmatch.fnmatchcase(host.lower(), pattern)


def _ip_literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None
