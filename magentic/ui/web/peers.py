"""Which user's process is at the other end of a loopback TCP connection, on Linux.

Both ends of a connection on 127.0.0.1 are sockets of this machine, and the kernel knows the
owner of each. The view asks for the client's end (its address is the client's address and
port, its peer the view's) to refuse processes of other users, whatever cookie they present
(see `door`). The question goes to the kernel's socket-diagnostics netlink (the one `ss`
uses), which looks up that one socket; reading `/proc/net/tcp` lists every socket of the
machine and costs milliseconds on a busy one, so it is only the fallback.
"""

from __future__ import annotations

import functools
import os
import socket
import struct
from pathlib import Path

TABLE = Path("/proc/net/tcp")
_NETLINK_SOCK_DIAG = 4
_SOCK_DIAG_BY_FAMILY = 20
_NLM_F_REQUEST = 1
_NLMSG_ERROR = 2
_NO_COOKIE = 0xFFFFFFFF
_UID_AT = 16 + 64  # netlink header, then inet_diag_msg's idiag_uid


@functools.cache
def can_tell() -> bool:
    """Whether this system says who owns a socket (asked once, when first needed)."""
    if not hasattr(socket, "AF_NETLINK") and not TABLE.exists():
        return False
    try:
        with TABLE.open("rb") as handle:
            return b"uid" in handle.readline().split()
    except OSError:
        return hasattr(socket, "AF_NETLINK")


def tcp_peer_uid(client: tuple[str, int], server: tuple[str, int]) -> int | None:
    """The uid owning the IPv4 socket at `client` connected to `server`, or None when the
    kernel lists no such socket (blocking)."""
    try:
        return _ask_netlink(client, server)
    except OSError:
        return _read_table(client, server)


def _ask_netlink(client: tuple[str, int], server: tuple[str, int]) -> int | None:
    sockid = struct.pack(
        "!HH16s16s",
        client[1],
        server[1],
        socket.inet_aton(client[0]).ljust(16, b"\0"),
        socket.inet_aton(server[0]).ljust(16, b"\0"),
    ) + struct.pack("=III", 0, _NO_COOKIE, _NO_COOKIE)
    request = struct.pack("=BBBBI", socket.AF_INET, socket.IPPROTO_TCP, 0, 0, 0xFFFFFFFF) + sockid
    header = struct.pack("=IHHII", 16 + len(request), _SOCK_DIAG_BY_FAMILY, _NLM_F_REQUEST, 1, 0)
    with socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, _NETLINK_SOCK_DIAG) as sock:
        sock.settimeout(2)
        sock.sendto(header + request, (0, 0))
        reply = sock.recv(8192)
    if len(reply) < 16:
        raise OSError("a short reply from sock_diag")
    kind = struct.unpack_from("=H", reply, 4)[0]
    if kind == _NLMSG_ERROR:
        errno = -struct.unpack_from("=i", reply, 16)[0]
        if errno == 2:  # ENOENT: no such socket
            return None
        raise OSError(errno, os.strerror(errno))
    if kind != _SOCK_DIAG_BY_FAMILY or len(reply) < _UID_AT + 4:
        raise OSError("an unexpected reply from sock_diag")
    return int(struct.unpack_from("=I", reply, _UID_AT)[0])


def _hex(address: tuple[str, int]) -> str:
    """The table's form: the IPv4 address in the kernel's byte order, the port, in hex."""
    number = struct.unpack("=I", socket.inet_aton(address[0]))[0]
    return f"{number:08X}:{address[1]:04X}"


def _read_table(client: tuple[str, int], server: tuple[str, int]) -> int | None:
    try:
        lines = TABLE.read_text("ascii").splitlines()[1:]
    except OSError:
        return None
    local, remote = _hex(client), _hex(server)
    for line in lines:
        fields = line.split()
        if len(fields) >= 8 and fields[1] == local and fields[2] == remote:
            return int(fields[7])
    return None
