"""The `[approval]` table: which actions run freely, which ask a person, which never run.

Each guarded action has a kind, and the table maps each kind to `allow`, `ask` or `deny`:

| kind          | what it is                                                  | default |
|---------------|-------------------------------------------------------------|---------|
| `run_code`    | the ComputerTerminal runs code blocks in a sandbox          | allow   |
| `local_code`  | the same on the unsandboxed `local` executor (your machine) | ask     |
| `submit_form` | a form submission that posts, or a click that sends a POST  | ask     |
| `download`    | a file the browser fetches into the workspace               | allow   |
| `upload`      | a workspace file chosen for a page's file input             | ask     |
| `new_domain`  | opening a site (registrable domain) not visited in the run  | allow   |
| `login`       | typing into or submitting a password or payment-card field  | ask     |
| `mcp_tool`    | a tool of an MCP server (per server or tool in `mcp`)       | ask     |
| `mcp_read_only` | also applies to a tool its server calls read-only (tightens only) | allow |
| `web_action`  | every WebSurfer action (`--step` sets it to ask)            | allow   |

Why these defaults: they are what a careful user would accept with nobody watching. Reading
the web, downloading into the workspace (each file is read in a bounded worker, never run)
and running code in the sandbox are how a task gets done, and cost nothing that cannot be
thrown away. Anything that acts on the world as the user asks first: posting a form (an
order, a message, a booking), sending a local file out, signing in or paying, and calling an
MCP tool (whose effects we cannot see). Code on the machine itself asks, because there the
sandbox is the user.

MCP tools: the strictest rule that applies decides. Every tool of every server is under
`mcp_tool`; a tool its server declares read-only (MCP's `readOnlyHint`, not
`destructiveHint`) is also under `mcp_read_only`, and the stricter of the two wins. A
server's hints are its own word about its own tool, and a hostile server can say anything,
so a hint can make a tool stricter, never looser: `mcp_tool = "deny"` denies every tool of
every server whatever it declares. Only the person's own words go before these rules: an
`[approval.mcp]` entry for `"server.tool"`, else for `"server"` (so lookups that should run
unattended are named there, e.g. `"files.read" = "allow"`). Every MCP decision, allows
included, is recorded in the trace.

New sites are allowed: the URL policy already keeps the browser off private addresses, and
asking for every site would make ordinary research unattended-proof only by failing it; a user who wants to watch where the browser goes sets it to ask, and then
the first site of a run counts as new too.

With nobody there to ask (a pipe, a bench), asking means no, and the reason is recorded;
`--yes` (`yes = true`) turns every ask into allow. When one action is of several kinds (a
login form that posts), the strictest rule of its kinds decides, and a person is asked once.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Rule = Literal["allow", "ask", "deny"]
# The action kinds agents check before acting (the table above; the README says the same).
KINDS = (
    "run_code",
    "local_code",
    "submit_form",
    "download",
    "upload",
    "new_domain",
    "login",
    "mcp_tool",
    "mcp_read_only",
    "web_action",
)
# How strict each rule is: of an action's kinds, the strictest rule decides.
STRICTNESS: dict[Rule, int] = {"allow": 0, "ask": 1, "deny": 2}


class ApprovalSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # Code runs in the sandbox: allowed. With the unsandboxed `local` executor the terminal
    # checks `local_code` instead.
    run_code: Rule = "allow"
    local_code: Rule = "ask"  # code run on this machine itself (`--sandbox local`)
    submit_form: Rule = "ask"  # a form that posts, or a click that sends a POST
    download: Rule = "allow"  # files land in the workspace and are read in a bounded worker
    upload: Rule = "ask"  # a local file leaves the machine
    new_domain: Rule = "allow"  # a site not visited before in the run
    login: Rule = "ask"  # a password field or a payment form
    mcp_tool: Rule = "ask"  # any tool of an MCP server (a server's hints only tighten it)
    # Also applies to a tool its server declares read-only: only ever tightens `mcp_tool`.
    mcp_read_only: Rule = "allow"
    # Per MCP server or tool: {"files" = "allow", "files.delete" = "deny"}; the person's own
    # words, so the most specific key decides before `mcp_tool` and `mcp_read_only`.
    mcp: dict[str, Rule] = Field(default_factory=dict)
    # Every WebSurfer action, whatever it is: "ask" is the step-by-step mode (`--step`).
    web_action: Rule = "allow"
    # Every "ask" becomes "allow" (`--yes`).
    yes: bool = False

    def rule_for(self, kind: str, key: str = "") -> Rule:
        """The rule for one action; `key` is "server.tool" for MCP calls. A kind this table
        does not know asks: a new guarded action is never silently allowed."""
        if kind in ("mcp_tool", "mcp_read_only") and key:
            return self.mcp_rule(key, read_only=kind == "mcp_read_only")[1]
        if kind not in KINDS:
            return "ask"
        rule: Rule = getattr(self, kind)
        return rule

    def rule_key(self, kind: str, key: str = "") -> str:
        """The name of the setting that decides, as a person writes it in the config."""
        if kind in ("mcp_tool", "mcp_read_only") and key:
            return self.mcp_rule(key, read_only=kind == "mcp_read_only")[0]
        return kind

    def mcp_rule(self, key: str, read_only: bool = False) -> tuple[str, Rule]:
        """The setting that decides one MCP tool call ("server.tool") and its rule.

        The person's own words come first: an `[approval.mcp]` entry for the tool, else for
        its server. Otherwise `mcp_tool` decides, and a tool its server calls read-only gets
        the stricter of `mcp_tool` and `mcp_read_only`: what a server says about its own
        tool is the server's word, so it can tighten the rule, never loosen it.
        """
        server = key.split(".", 1)[0]
        for name in (key, server):
            if name in self.mcp:
                return f'mcp."{name}"', self.mcp[name]
        if read_only and STRICTNESS[self.mcp_read_only] > STRICTNESS[self.mcp_tool]:
            return "mcp_read_only", self.mcp_read_only
        return "mcp_tool", self.mcp_tool
