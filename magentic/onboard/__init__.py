"""A newcomer's first steps: `magentic init`, `magentic mcp add|import|list`, `trace export`."""
