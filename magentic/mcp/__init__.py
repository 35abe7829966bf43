"""Connections to MCP servers: settings, the stdio transport, process cleanup, one connection.

This package knows the MCP SDK and processes, not agents: `magentic.agents.mcp` turns the
servers' tools into tools of an agent, under the run's approvals, budgets and trace.
"""
