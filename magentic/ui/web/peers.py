"""Which user's process is at the other end of a loopback TCP connection, on Linux.

Both ends of a connection on 127.0.0.1 are sockets of this machine, and the kernel lists each
socket with its owner's uid in `/proc/net/tcp`. The view looks up the client's end (its
local address is the client's address and port, its remote address the view's) to refuse
processes of other users, whatever cookie they present (see `door`).
"""

from __future__ import annotations

import functools
import socket
import struct
from pathlib import Path

TABLE = Path("/proc/net/tcp")


@functools.cache
def can_tell() -> bool:
    """Whether this system lists sockets with their owners (read once, when first asked)."""
    try:
        with TABLE.open("rb") as handle:
            return b"uid" in handle.readline().split()
    except (OSError, IndexError):
        return False


def _address(text: str) -> tuple[str, int]:
    """`0100007F:1F90` (the IPv4 address in the kernel's byte order, the port in hex)."""
    ip, _, port = text.partition(":")
    return socket.inet_ntoa(struct.pack("=I", int(ip, 16))), int(port, 16)


def tcp_peer_uid(client: tuple[str, int], server: tuple[str, int]) -> int | None:
    """The uid owning the socket at `client` connected to `server`, or None when no such
    socket is listed (blocking: reads the table)."""
    try:
        lines = TABLE.read_text("ascii").splitlines()[1:]
    except OSError:
        return None
    for line in lines:
        fields = line.split()
        if len(fields) < 8:
            continue
        try:
            if _address(fields[1]) == client and _address(fields[2]) == server:
                return int(fields[7])
        except ValueError:
            continue
    return None
