"""The URL policy: unit checks, then real Chromium kept off blocked addresses however it
is led there (typed address, link, popup, redirect, redirect to https, a host name that
resolves to a local address)."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote

import pytest
import pytest_asyncio
from playwright.async_api import Error as PlaywrightError

from magentic.agents.web_surfer.actions import Actions
from magentic.agents.web_surfer.browser import BrowserPool, BrowserSession
from magentic.agents.web_surfer.settings import UrlPolicySettings
from magentic.agents.web_surfer.url_policy import UrlPolicy
from tests.web import site_server
from tests.web.conftest import web_settings
from tests.web.helpers import act, find

SECRET = "8675309"


# Unit checks (no browser) --------------------------------------------------------------
def test_defaults_block_local_and_private_addresses_and_odd_schemes() -> None:
    policy = UrlPolicy()
    assert policy.check_url("https://example.com/a") is None
    assert policy.check_url("about:blank") is None
    for url in (
        "http://127.0.0.1:8000/",
        "http://localhost/",
        "http://api.localhost/",
        "http://10.1.2.3/",
        "http://192.168.0.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:8080/",
        "http://[::ffff:127.0.0.1]/",
        "http://0.0.0.0/",
    ):
        assert policy.check_url(url), url
    assert policy.check_url("file:///etc/passwd") == "file:// addresses are not allowed"
    assert "scheme is not allowed" in (policy.check_url("chrome://settings") or "")
    assert "scheme is not allowed" in (policy.check_url("javascript:alert(1)") or "")


def test_allow_is_exact_to_host_and_port() -> None:
    policy = UrlPolicy(UrlPolicySettings(allow=["127.0.0.1:8123", "*.corp.example"]))
    assert policy.check_url("http://127.0.0.1:8123/x") is None
    assert policy.check_url("http://127.0.0.1:9000/x")  # another port of the same host
    assert policy.check_url("http://localhost:8123/x")  # the same server by another name
    assert policy.check_address("wiki.corp.example", 443, ["10.0.0.7"]) is None
    assert policy.check_address("corp.example", 443, ["10.0.0.7"]) is None


def test_names_resolving_to_private_addresses_are_blocked() -> None:
    policy = UrlPolicy()
    reason = policy.check_address("innocent.example", 80, ["93.184.216.34", "10.0.0.5"])
    assert reason == "innocent.example resolves to a private or local address (10.0.0.5)"
    assert policy.check_address("public.example", 443, ["93.184.216.34"]) is None


def test_block_list_allow_only_and_allow_private() -> None:
    blocking = UrlPolicy(UrlPolicySettings(block=["*.ads.example", "evil.example"]))
    assert blocking.check_url("https://x.ads.example/") == "x.ads.example is on the block list"
    assert blocking.check_url("https://evil.example/")
    assert blocking.check_url("https://good.example/") is None
    closed = UrlPolicy(UrlPolicySettings(allow=["docs.example"], allow_listed_only=True))
    assert closed.check_url("https://docs.example/") is None
    assert closed.check_url("https://other.example/") == "other.example is not on the allow list"
    local = UrlPolicy(UrlPolicySettings(allow_private=True, allow_file=True))
    assert local.check_url("http://127.0.0.1:5000/") is None
    assert local.check_url("file:///tmp/x.html") is None


# In the browser ------------------------------------------------------------------------


def _port(site: str) -> int:
    return int(site.rsplit(":", 1)[1])


def _jump(site: str, to: str) -> str:
    return f"{site}/jump?to={quote(to, safe='')}"


def _secret_requested() -> bool:
    return any(path.startswith("/secret") for path in site_server.REQUESTS)


@pytest.mark.browser
@pytest.mark.asyncio(loop_scope="module")
async def test_typed_addresses_outside_the_policy_are_not_opened(
    browsing: Actions, site: str
) -> None:
    site_server.REQUESTS.clear()
    for url in (
        "file:///etc/passwd",
        f"http://localhost:{_port(site)}/secret",
        "http://127.0.0.1:9/secret",
        "http://169.254.169.254/latest/meta-data/",
    ):
        result, seen = await act(browsing, "visit_url", url=url)
        assert result.error is not None and "blocked by the URL policy" in result.error, url
        assert seen.state.url == "about:blank"
    assert not _secret_requested()


@pytest.mark.browser
@pytest.mark.asyncio(loop_scope="module")
async def test_redirects_to_blocked_addresses_are_stopped(browsing: Actions, site: str) -> None:
    port = _port(site)
    site_server.REQUESTS.clear()
    for target in (
        f"http://localhost:{port}/secret",  # same server, a name the policy does not allow
        f"http://127.0.0.1:{port + 1}/secret",
        "http://10.255.255.1/secret",
        f"https://localhost:{port}/secret",  # a CONNECT tunnel, refused by host
    ):
        _, seen = await act(browsing, "visit_url", url=f"{site}/redirect?to={target}")
        assert SECRET not in seen.text
        assert f"{target} was blocked by the URL policy" in seen.text, seen.text
    assert not _secret_requested()
    # An allowed redirect is followed as usual.
    _, seen = await act(browsing, "visit_url", url=f"{site}/redirect?to=/articles/gamma.html")
    assert seen.state.title == "Gamma River"


@pytest.mark.browser
@pytest.mark.asyncio(loop_scope="module")
async def test_links_and_popups_to_blocked_addresses_are_stopped(
    browsing: Actions, site: str
) -> None:
    target = f"http://localhost:{_port(site)}/secret"
    site_server.REQUESTS.clear()
    _, seen = await act(browsing, "visit_url", url=_jump(site, target))
    _, seen = await act(browsing, "click", target_id=find(seen, "Follow the link").id)
    assert SECRET not in seen.text
    assert "Blocked by the URL policy" in seen.text

    _, seen = await act(browsing, "visit_url", url=_jump(site, target))
    _, seen = await act(browsing, "click", target_id=find(seen, "popup").id)
    assert len(browsing.session.tabs) == 2  # the popup opened...
    assert SECRET not in seen.text  # ...but did not reach the address
    assert "Blocked by the URL policy" in seen.text
    assert not _secret_requested()


@pytest.mark.browser
@pytest.mark.asyncio(loop_scope="module")
async def test_a_host_name_is_judged_by_the_address_it_resolves_to(
    browsing: Actions, site: str
) -> None:
    name = socket.gethostname()
    try:
        resolved = {info[4][0] for info in socket.getaddrinfo(name, None)}
    except OSError:
        resolved = set()
    site_server.REQUESTS.clear()
    target = f"http://{name}:{_port(site)}/secret"
    _, seen = await act(browsing, "visit_url", url=f"{site}/redirect?to={target}")
    assert SECRET not in seen.text
    assert not _secret_requested()
    if resolved:  # the machine's own name resolves to one of its own addresses
        assert f"{name} resolves to a private or local address" in seen.text, seen.text


@pytest_asyncio.fixture(loop_scope="module")
async def open_policy(pool: BrowserPool, site_host: str, tmp_path: Path) -> AsyncIterator[Actions]:
    settings = web_settings(site_host, url_policy=UrlPolicySettings(allow_private=True))
    session = BrowserSession(pool, settings, downloads_dir=tmp_path)
    await session.start()
    yield Actions(session, settings, workspace=tmp_path)
    await session.close()


@pytest.mark.browser
@pytest.mark.asyncio(loop_scope="module")
async def test_allow_private_opens_what_the_default_blocks(open_policy: Actions, site: str) -> None:
    # The control for the tests above: with the guard off, the same redirect arrives.
    target = f"http://localhost:{_port(site)}/secret"
    _, seen = await act(open_policy, "visit_url", url=f"{site}/redirect?to={target}")
    assert SECRET in seen.text


@pytest.mark.browser
@pytest.mark.asyncio(loop_scope="module")
async def test_webrtc_sends_no_udp_past_the_proxy(browsing: Actions, site: str) -> None:
    """A page's STUN/TURN setup would send UDP straight to the address it names (the proxy
    carries only HTTP); Chromium's WebRTC policy must keep every packet in."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    listener.bind(("127.0.0.1", 0))
    listener.setblocking(False)
    try:
        port = listener.getsockname()[1]
        await act(browsing, "visit_url", url=f"{site}/hostile-webrtc.html?port={port}")
        page = await browsing.session.ready_page()
        # ICE gathering ends at once when no UDP may go out; were it sending, it would keep
        # retrying its STUN requests for many seconds, and this wait would end first.
        with contextlib.suppress(PlaywrightError):
            await page.wait_for_function(
                "document.getElementById('state').textContent === 'gathered'", timeout=5000
            )
        assert await page.text_content("#state") == "gathered"
        received = []
        with contextlib.suppress(BlockingIOError):
            while True:
                received.append(listener.recvfrom(4096))
        assert received == []
    finally:
        listener.close()
