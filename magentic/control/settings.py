"""The `[approval]` table: which actions run freely, which ask a person, which never run.

Defaults are what a careful user would accept unattended: reading and running code in the
sandbox goes on; anything that acts on the world as the user (posting a form, uploading a
file, signing in or paying) asks first. With nobody there to ask (a pipe, a bench), asking
means no, and the reason is recorded; `--yes` turns every ask into allow.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Rule = Literal["allow", "ask", "deny"]
# The action kinds agents check before acting (their meaning is in the README).
KINDS = ("run_code", "submit_form", "download", "upload", "new_domain", "login", "mcp_tool")


class ApprovalSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # Code runs in the sandbox: allowed. With the unsandboxed `local` executor the terminal
    # treats "allow" as "ask" unless `local_code = "allow"` says the user means it.
    run_code: Rule = "allow"
    local_code: Rule = "ask"
    submit_form: Rule = "ask"  # a form that posts, or a click that sends a POST
    download: Rule = "allow"  # files land in the workspace and are read in a bounded worker
    upload: Rule = "ask"  # a local file leaves the machine
    new_domain: Rule = "allow"  # a site not visited before in the run
    login: Rule = "ask"  # a page with a password field or a payment form
    mcp_tool: Rule = "ask"
    # Per MCP server or tool: {"files" = "allow", "files.delete" = "deny"}; the most
    # specific key wins over `mcp_tool`.
    mcp: dict[str, Rule] = Field(default_factory=dict)
    # Every "ask" becomes "allow" (`--yes`).
    yes: bool = False

    def rule_for(self, kind: str, key: str = "") -> Rule:
        """The rule for one action; `key` is "server.tool" for MCP calls."""
        if kind == "mcp_tool" and key:
            server = key.split(".", 1)[0]
            if key in self.mcp:
                return self.mcp[key]
            if server in self.mcp:
                return self.mcp[server]
        rule: Rule = getattr(self, kind, "ask")
        return rule
