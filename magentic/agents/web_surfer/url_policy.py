"""The URL policy: which schemes, hosts and addresses the browser may reach.

A web page the agent visits is untrusted: it may link or redirect to `http://127.0.0.1:...`,
to a cloud metadata address, or to `file:///etc/passwd`. So by default only http(s) to
public addresses is allowed; loopback, private, link-local and the machine's own addresses
are blocked unless the person allows them. Checks come in two kinds:

- `check_url`: scheme and host patterns, no DNS (used before a navigation is started);
- `check_address`: the resolved IP addresses of a host (used by the proxy that carries
  every request of the browser, so a name that resolves to a private address is caught too).

Each returns None when allowed, else a short reason the model can read.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import socket
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlsplit

from magentic.agents.web_surfer.settings import UrlPolicySettings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
# Pages of the browser itself that are harmless to show.
INTERNAL_URLS = ("about:blank",)


@dataclass(frozen=True)
class HostPattern:
    host: str
    port: int | None
    subdomains: bool  # "*.example.com"

    @classmethod
    def parse(cls, text: str) -> HostPattern:
        text = text.strip().lower()
        if "://" in text:
            text = text.split("://", 1)[1]
        text = text.split("/", 1)[0]
        subdomains = text.startswith("*.")
        if subdomains:
            text = text[2:]
        host, port = split_host_port(text)
        return cls(host, port, subdomains)

    def matches(self, host: str, port: int | None) -> bool:
        host = host.lower().rstrip(".")
        if self.port is not None and port != self.port:
            return False
        if host == self.host:
            return True
        return self.subdomains and host.endswith("." + self.host)


def split_host_port(text: str) -> tuple[str, int | None]:
    """`host`, `host:port`, `[v6]:port` -> (host, port); IPv6 brackets removed."""
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif text.count(":") == 1:
        host, port = text.split(":")
    else:
        host, port = text, ""
    return host.lower().rstrip("."), (int(port) if port.isdigit() else None)


def literal_ip(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def is_internal(ip: IPAddress) -> bool:
    """Loopback, private, link-local, shared, reserved or the machine's own address."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast or str(ip) in own_addresses()


@lru_cache(maxsize=1)
def own_addresses() -> frozenset[str]:
    """The addresses of this machine's interfaces and host name (read once, when needed)."""
    found: set[str] = set()
    with contextlib.suppress(OSError):
        for info in socket.getaddrinfo(socket.gethostname(), None):
            found.add(str(info[4][0]))
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for _, name in socket.if_nameindex():
            with contextlib.suppress(OSError):
                packed = fcntl.ioctl(s.fileno(), 0x8915, struct.pack("256s", name[:15].encode()))
                found.add(socket.inet_ntoa(packed[20:24]))  # SIOCGIFADDR
    with contextlib.suppress(OSError), open("/proc/net/if_inet6") as lines:
        for line in lines:
            raw = line.split()[0]
            found.add(str(ipaddress.IPv6Address(int(raw, 16))))
    return frozenset(found)


class UrlPolicy:
    def __init__(self, settings: UrlPolicySettings | None = None) -> None:
        self.settings = settings or UrlPolicySettings()
        self.allow = [HostPattern.parse(p) for p in self.settings.allow]
        self.block = [HostPattern.parse(p) for p in self.settings.block]

    def allowed_explicitly(self, host: str, port: int | None) -> bool:
        return any(p.matches(host, port) for p in self.allow)

    def check_url(self, url: str) -> str | None:
        """Why `url` may not be opened (scheme, lists, literal addresses), or None."""
        if url in INTERNAL_URLS:
            return None
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme == "file":
            return None if self.settings.allow_file else "file:// addresses are not allowed"
        if scheme not in ("http", "https", "ws", "wss"):
            return f"the {scheme or 'missing'} scheme is not allowed (only http and https)"
        if not parts.hostname:
            return "the address has no host"
        try:
            port = parts.port or DEFAULT_PORTS[scheme]
        except ValueError:
            return "the address has an invalid port"
        return self.check_host(parts.hostname, port)

    def check_host(self, host: str, port: int | None) -> str | None:
        """Why `host:port` may not be reached judging by its name alone, or None."""
        host = host.lower().rstrip(".").strip("[]")
        if any(p.matches(host, port) for p in self.block):
            return f"{host} is on the block list"
        if self.allowed_explicitly(host, port):
            return None
        if self.settings.allow_listed_only:
            return f"{host} is not on the allow list"
        if self.settings.allow_private:
            return None
        ip = literal_ip(host)
        if ip is not None and is_internal(ip):
            return f"{host} is a private or local address"
        if host == "localhost" or host.endswith(".localhost"):
            return f"{host} is a local address"
        return None

    def check_address(self, host: str, port: int | None, ips: Iterable[str]) -> str | None:
        """Why a host that resolved to `ips` may not be reached, or None."""
        reason = self.check_host(host, port)
        if reason or self.allowed_explicitly(host, port) or self.settings.allow_private:
            return reason
        for text in ips:
            ip = literal_ip(text)
            if ip is not None and is_internal(ip):
                return f"{host} resolves to a private or local address ({ip})"
        return None
