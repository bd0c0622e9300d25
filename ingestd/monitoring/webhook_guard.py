"""Which addresses a webhook may reach: public ones only, unless private targets are allowed.

Checked twice. When a URL is saved, a host written as an address (in any spelling the
resolver would take: 2130706433, 0x7f.1, 0177.0.0.1, ::ffff:169.254.169.254 ...) is refused
at once. When a delivery connects, the address itself is checked as the socket is made, after
DNS: a name that resolves (or is rebound) to a private address is refused too, and nothing
else is ever dialled, since aiohttp makes every connection's socket through the factory.
"""

from __future__ import annotations

import errno
import ipaddress
import re
import socket

from aiohttp import AddrInfoType

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

ALLOW_SETTING = "INGESTD_WEBHOOK_ALLOW_PRIVATE"
#: The IPv4 spellings inet_aton (so getaddrinfo) reads: decimal, hex and octal parts, 1 to 4.
_IPV4_SPELLING = re.compile(r"[0-9a-fx.]+", re.IGNORECASE)
#: IPv6 prefixes that carry an IPv4 address in their last 32 bits, reached through a gateway.
_NAT64 = (ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("64:ff9b:1::/48"))


def literal_address(host: str) -> Address | None:
    """The address a URL's host names without DNS, however it is spelt; None for a name."""
    host = host.rstrip(".")
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if _IPV4_SPELLING.fullmatch(host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def _unwrapped(address: Address) -> Address:
    """The IPv4 address an IPv6 one stands for (mapped, 6to4, NAT64), else itself."""
    if isinstance(address, ipaddress.IPv6Address):
        inner = address.ipv4_mapped or address.sixtofour
        if inner is None and any(address in net for net in _NAT64):
            inner = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if inner is not None:
            return inner
    return address


def refusal(address: Address) -> str | None:
    """Why a webhook may not reach `address`, or None for a public address."""
    address = _unwrapped(address)
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address (where cloud metadata services answer)"
    if address.is_private:
        return "a private address"
    if address.is_multicast or address.is_reserved or not address.is_global:
        return "not a public address"
    return None


def host_refusal(host: str) -> str | None:
    """Why a URL's host is refused before any DNS, or None when it may be tried."""
    name = host.rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return "a loopback name"
    address = literal_address(host)
    return None if address is None else refusal(address)


def public_socket(addr_info: AddrInfoType) -> socket.socket:
    """aiohttp's socket factory for webhook deliveries: public addresses only."""
    family, kind, proto, _, sockaddr = addr_info
    why = refusal(ipaddress.ip_address(sockaddr[0]))
    if why is not None:
        raise PermissionError(
            errno.EACCES, f"refused to connect to {sockaddr[0]}: {why} (see {ALLOW_SETTING})"
        )
    return socket.socket(family, kind, proto)
