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
| `mcp_read_only` | an MCP tool its server declares read-only, not destructive | allow   |
| `web_action`  | every WebSurfer action (`--step` sets it to ask)            | allow   |

Why these defaults: they are what a careful user would accept with nobody watching. Reading
the web, downloading into the workspace (each file is read in a bounded worker, never run)
and running code in the sandbox are how a task gets done, and cost nothing that cannot be
thrown away. Anything that acts on the world as the user asks first: posting a form (an
order, a message, a booking), sending a local file out, signing in or paying, and calling an
MCP tool (whose effects we cannot see). Code on the machine itself asks, because there the
sandbox is the user. An MCP tool its own server marks read-only (MCP's `readOnlyHint`, and not
`destructiveHint`) runs: the user chose to configure that server, and a lookup tool should
work unattended; `[approval.mcp]` entries still decide first for the servers and tools they
name. New sites are allowed: the URL policy already keeps the browser off
private addresses, and asking for every site would make ordinary research unattended-proof
only by failing it; a user who wants to watch where the browser goes sets it to ask, and then
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
    local_code: Rule = "ask"
    submit_form: Rule = "ask"  # a form that posts, or a click that sends a POST
    download: Rule = "allow"  # files land in the workspace and are read in a bounded worker
    upload: Rule = "ask"  # a local file leaves the machine
    new_domain: Rule = "allow"  # a site not visited before in the run
    login: Rule = "ask"  # a password field or a payment form
    mcp_tool: Rule = "ask"
    mcp_read_only: Rule = "allow"  # a tool its server declares read-only, not destructive
    # Per MCP server or tool: {"files" = "allow", "files.delete" = "deny"}; the most
    # specific key wins over `mcp_tool`.
    mcp: dict[str, Rule] = Field(default_factory=dict)
    # Every WebSurfer action, whatever it is: "ask" is the step-by-step mode (`--step`).
    web_action: Rule = "allow"
    # Every "ask" becomes "allow" (`--yes`).
    yes: bool = False

    def rule_for(self, kind: str, key: str = "") -> Rule:
        """The rule for one action; `key` is "server.tool" for MCP calls. A kind this table
        does not know asks: a new guarded action is never silently allowed."""
        if kind in ("mcp_tool", "mcp_read_only") and key:
            for name in (key, key.split(".", 1)[0]):
                if name in self.mcp:
                    return self.mcp[name]
        if kind not in KINDS:
            return "ask"
        rule: Rule = getattr(self, kind)
        return rule

    def rule_key(self, kind: str, key: str = "") -> str:
        """The name of the setting that decides, as a person writes it in the config."""
        if kind in ("mcp_tool", "mcp_read_only") and key:
            for name in (key, key.split(".", 1)[0]):
                if name in self.mcp:
                    return f'mcp."{name}"'
        return kind
