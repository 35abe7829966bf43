"""Where the web view listens: 127.0.0.1 only, or a Unix socket only its owner can open.

A Unix socket is the stronger door where the platform has one: the kernel lets only the
user who made it (and root) connect, before any request is read. The socket is created
0600, inside a folder that is the owner's alone (0700): made so if missing, refused if
anyone else can enter it or write in it. A browser reaches it through a tunnel
(`ssh -L 8765:/path/to/ui.sock host`, or a local one), and still needs the key.
"""

from __future__ import annotations

import contextlib
import os
import socket
import stat
from pathlib import Path

from magentic.errors import ConfigError


def bind_tcp(port: int) -> socket.socket:
    """A listening socket on 127.0.0.1 (port 0: any free one), or a one-line ConfigError."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port))
    except OSError as error:
        sock.close()
        raise ConfigError(
            f"cannot serve on 127.0.0.1:{port} ({error.strerror or error}): "
            "is another program using it? Choose another with --port"
        ) from None
    sock.listen(64)
    sock.setblocking(False)
    return sock


def bind_unix(path: Path) -> socket.socket:
    """A listening Unix socket at `path`, mode 0600 in a 0700 folder of ours; a stale socket
    of ours is replaced; anything else is a one-line ConfigError."""
    if not hasattr(socket, "AF_UNIX"):
        raise ConfigError("this platform has no Unix sockets: serve on a port instead")
    path = Path(path).absolute()
    _private_folder(path.parent)
    _clear_stale(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)  # born 0600: never a moment when others may connect
    try:
        sock.bind(str(path))
    except OSError as error:
        sock.close()
        raise ConfigError(f"cannot serve on the socket {path}: {error.strerror or error}") from None
    finally:
        os.umask(old)
    os.chmod(path, 0o600)
    sock.listen(64)
    sock.setblocking(False)
    return sock


def _private_folder(folder: Path) -> None:
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = os.lstat(folder)
    except OSError as error:
        raise ConfigError(f"cannot make the folder {folder}: {error.strerror or error}") from None
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        raise ConfigError(f"{folder} is not a folder (a link?): choose another --socket path")
    if info.st_uid != os.geteuid() or info.st_mode & 0o077:
        raise ConfigError(
            f"the socket's folder {folder} must be yours alone (mode 0700; it is "
            f"{stat.S_IMODE(info.st_mode):04o}): choose a private folder for --socket"
        )


def _clear_stale(path: Path) -> None:
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(info.st_mode) or info.st_uid != os.geteuid():
        raise ConfigError(f"{path} exists and is not a socket of ours: choose another --socket")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(str(path))
    except OSError:  # nobody listens: left behind by a view that did not stop cleanly
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        return
    finally:
        probe.close()
    raise ConfigError(f"another view already serves on {path}")
