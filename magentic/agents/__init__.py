"""The specialists the orchestrator delegates to. Each knows nothing about the orchestrator."""
