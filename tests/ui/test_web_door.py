"""The web view is a door with a lock: its own host name only, a key for every route (given
once in the printed link, then a SameSite=Strict cookie), commands only from its own
origin, nobody else's processes, and decisions recorded as the session's that made them."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx

from magentic.ui.web.app import WebView

from .held import RUN_ID, held_approval
from .intruder import CONNECT, requests_as_intruder, run_as_intruder


async def signed_in(view: WebView, **options: object) -> httpx.AsyncClient:
    """A client that opened the printed link, so it holds the session cookie."""
    client = httpx.AsyncClient(base_url=view.url, timeout=10, **options)  # type: ignore[arg-type]
    opened = await client.get(view.link())
    assert opened.status_code == 303, opened.text
    return client


def _command(view: WebView, body: dict[str, object], **headers: str) -> dict[str, object]:
    return {
        "content": json.dumps(body),
        "headers": {"Content-Type": "application/json", "Origin": view.url.rstrip("/"), **headers},
    }


async def test_the_printed_key_opens_the_view_once_per_browser_and_never_shows(
    tmp_path: Path,
) -> None:
    async with held_approval(tmp_path / "runs") as held:
        view = held.view
        async with httpx.AsyncClient(base_url=view.url, timeout=10) as stranger:
            locked = {
                p: await stranger.get(p) for p in ("/", f"/run/0/{RUN_ID}", "/static/follow.js")
            }
            stream = await stranger.get(f"/follow/run/0/{RUN_ID}?offset=0")
            wrong = await stranger.get("/?key=" + "0" * len(view.key))
            opened = await stranger.get(view.link(f"run/0/{RUN_ID}") + "&x=1")
            cookie = opened.headers["set-cookie"]
            page = await stranger.get(f"/run/0/{RUN_ID}")
            index = await stranger.get("/")
            steer = await stranger.post(f"/control/0/{RUN_ID}", **_command(view, {"kind": "pause"}))  # type: ignore[arg-type]
    for response in (*locked.values(), stream, wrong):
        assert response.status_code == 401
        assert view.key not in response.text and "order the blue mug" not in response.text
    assert "printed" in locked["/"].text  # says what to do: open the printed link
    assert opened.status_code == 303 and opened.headers["location"] == f"/run/0/{RUN_ID}?x=1"
    assert {"HttpOnly", "SameSite=Strict", "Path=/"} <= {p.strip() for p in cookie.split(";")}
    assert view.key not in cookie
    assert page.status_code == 200 and "order the blue mug" in page.text
    assert index.status_code == 200 and view.key not in page.text + index.text
    assert "data-token" not in page.text  # no steering token in the page either
    assert steer.status_code == 200 and held.control.paused
    [received] = [e for e in held.steered() if e.kind == "control_received"]
    assert received.face.startswith("web:") and received.face != "web:"  # type: ignore[attr-defined]


async def test_a_foreign_host_header_is_refused_even_with_the_cookie(tmp_path: Path) -> None:
    async with held_approval(tmp_path / "runs") as held:
        view = held.view
        client = await signed_in(view)
        try:
            by_host = {
                host: await client.get("/", headers={"Host": host})
                for host in (
                    f"attacker.test:{view.port}",
                    f"127.0.0.1:{view.port + 1}",
                    "127.0.0.1",
                    f"localhost:{view.port}",
                    f"127.0.0.1:{view.port}",
                )
            }
            approve = _command(view, {"kind": "approve", "request_id": "r1"})
            approve["headers"]["Host"] = f"attacker.test:{view.port}"  # type: ignore[index]
            approve["headers"]["Origin"] = f"http://attacker.test:{view.port}"  # type: ignore[index]
            rebound = await client.post(f"/control/0/{RUN_ID}", **approve)  # type: ignore[arg-type]
        finally:
            await client.aclose()
        assert [r.status_code for r in by_host.values()] == [421, 421, 421, 200, 200]
        assert "order the blue mug" not in "".join(r.text for r in list(by_host.values())[:3])
        assert rebound.status_code == 421
        assert not held.decision.done() and held.steered() == []


async def test_commands_come_only_from_the_views_own_origin(tmp_path: Path) -> None:
    async with held_approval(tmp_path / "runs") as held:
        view = held.view
        client = await signed_in(view)
        target = f"/control/0/{RUN_ID}"
        guide = {"kind": "guide", "text": "post it twice"}
        try:
            refused = [
                await client.post(target, **_command(view, guide, Origin="http://evil.example")),  # type: ignore[arg-type]
                await client.post(
                    target, **_command(view, guide, Origin=f"http://127.0.0.1:{view.port + 1}")
                ),  # type: ignore[arg-type]
                await client.post(
                    target, **_command(view, guide, **{"Sec-Fetch-Site": "cross-site"})
                ),  # type: ignore[arg-type]
                await client.post(
                    target, **_command(view, guide, **{"Sec-Fetch-Site": "same-site"})
                ),  # type: ignore[arg-type]
                await client.post(
                    target, content=json.dumps(guide), headers={"Content-Type": "application/json"}
                ),
            ]
            plain = await client.post(
                target,
                content=json.dumps(guide),
                headers={"Content-Type": "text/plain", "Origin": view.url.rstrip("/")},
            )
            # another site's script reading a page through the person's cookie
            peek = await client.get(
                f"/run/0/{RUN_ID}",
                headers={"Sec-Fetch-Site": "same-site", "Sec-Fetch-Mode": "cors"},
            )
            assert held.steered() == []
            taken = await client.post(
                target,
                **_command(view, {"kind": "approve", "request_id": "r1", "reason": "fine"},  # type: ignore[arg-type]
                           **{"Sec-Fetch-Site": "same-origin"}),
            )  # fmt: skip
            decision = await asyncio.wait_for(held.decision, 10)
        finally:
            await client.aclose()
    assert [r.status_code for r in refused] == [403] * 5
    assert plain.status_code in (400, 403, 415) and peek.status_code == 403
    assert taken.status_code == 200 and decision.allowed and decision.reason == "fine"
    received, made = held.steered()
    assert decision.by.startswith("web:") and decision.by != "web:"
    assert received.face == made.by == decision.by  # type: ignore[attr-defined]


async def test_another_local_user_cannot_open_or_steer_the_view(tmp_path: Path) -> None:
    async with held_approval(tmp_path / "runs") as held:
        view = held.view
        client = await signed_in(view)
        stolen = f"{view.cookie}={client.cookies[view.cookie]}"
        await client.aclose()
        base = view.url.rstrip("/")
        approve = json.dumps({"kind": "approve", "request_id": "r1"})
        post = {"Content-Type": "application/json", "Origin": base}
        calls = [
            ["index", "GET", f"{base}/", {}, None],
            ["page", "GET", f"{base}/run/0/{RUN_ID}", {}, None],
            ["approve", "POST", f"{base}/control/0/{RUN_ID}", post, approve],
            ["wrong_key", "GET", f"{base}/?key={'1' * len(view.key)}", {}, None],
            # the cookie, as another user's server on another port of 127.0.0.1 could read it
            ["stolen_page", "GET", f"{base}/run/0/{RUN_ID}", {"Cookie": stolen}, None],
            ["stolen_approve", "POST", f"{base}/control/0/{RUN_ID}", {**post, "Cookie": stolen}, approve],
        ]  # fmt: skip
        out = await asyncio.to_thread(requests_as_intruder, calls)
        assert not held.decision.done() and held.steered() == []
    statuses = {name: status for name, (status, _) in out.items()}
    assert statuses == {
        "index": 401,
        "page": 401,
        "approve": 401,
        "wrong_key": 401,
        "stolen_page": 403,
        "stolen_approve": 403,
    }
    assert not any("order the blue mug" in text for _, text in out.values())


async def test_a_unix_socket_is_its_owners_alone(tmp_path: Path) -> None:
    base = Path(tempfile.mkdtemp(prefix="magentic-view-"))  # a path the other user can walk
    os.chmod(base, 0o711)
    path = base / "view" / "ui.sock"
    try:
        await _serve_on_a_socket(tmp_path, path)
    finally:
        shutil.rmtree(base)


async def _serve_on_a_socket(tmp_path: Path, path: Path) -> None:
    async with held_approval(tmp_path / "runs", socket_path=path) as held:
        view = held.view
        mode = stat.S_IMODE(os.stat(path).st_mode), stat.S_IMODE(os.stat(path.parent).st_mode)
        assert stat.S_ISSOCK(os.stat(path).st_mode)
        other = await asyncio.to_thread(run_as_intruder, CONNECT, str(path))
        transport = httpx.AsyncHTTPTransport(uds=str(path))
        async with httpx.AsyncClient(transport=transport, base_url=view.url, timeout=10) as client:
            locked = await client.get("/")
            assert (await client.get(view.link())).status_code == 303
            index = await client.get("/")
            tunnelled = await client.get("/", headers={"Host": "localhost:8765"})
            rebound = await client.get("/", headers={"Host": "attacker.test:8765"})
            guide = await client.post(
                f"/control/0/{RUN_ID}",
                content=json.dumps({"kind": "guide", "text": "look twice"}),
                headers={"Content-Type": "application/json", "Origin": "http://localhost"},
            )
    assert mode == (0o600, 0o700)
    assert other.strip() == "PermissionError"
    assert locked.status_code == 401 and index.status_code == 200 and tunnelled.status_code == 200
    assert rebound.status_code == 421 and guide.status_code == 200
    assert not await asyncio.to_thread(os.path.exists, path)  # removed when the view stops


async def test_magentic_ui_on_a_socket_prints_its_link_once(tmp_path: Path) -> None:
    path = tmp_path / "private" / "ui.sock"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAGENTIC_")}
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "magentic.cli", "ui", str(tmp_path / "runs"), "--socket", str(path),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    try:
        assert child.stderr is not None
        line = (await asyncio.wait_for(child.stderr.readline(), 60)).decode()
        assert f"on the Unix socket {path}" in line and "http://localhost/?key=" in line
        link = line.split()[-1]
        transport = httpx.AsyncHTTPTransport(uds=str(path))
        async with httpx.AsyncClient(transport=transport, timeout=10) as client:
            locked = await client.get("http://localhost/")
            opened = await client.get(link)
            index = await client.get("http://localhost/")
    finally:
        child.send_signal(signal.SIGINT)
        out, err = await asyncio.wait_for(child.communicate(), 30)
    assert locked.status_code == 401 and opened.status_code == 303 and index.status_code == 200
    assert link.split("=")[-1] not in (out + err).decode()  # said once, not again


def test_a_socket_folder_others_can_enter_is_one_clear_line(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAGENTIC_")}
    done = subprocess.run(
        [sys.executable, "-m", "magentic.cli", "ui", "--socket", str(shared / "ui.sock")],
        capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().count("\n") == 0 and "0700" in done.stderr
    assert not (shared / "ui.sock").exists()


async def test_the_key_never_redirects_elsewhere(tmp_path: Path) -> None:
    async with held_approval(tmp_path / "runs") as held:
        view = held.view
        reader, writer = await asyncio.open_connection("127.0.0.1", view.port)
        writer.write(
            f"GET //evil.example/x?key={view.key} HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{view.port}\r\nConnection: close\r\n\r\n".encode()
        )
        answer = (await reader.read()).decode()
        writer.close()
    assert answer.startswith("HTTP/1.1 303") and "\r\nlocation: /\r\n" in answer.lower()
