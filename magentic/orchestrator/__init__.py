"""The lead agent: plans, delegates, watches progress, replans, answers."""
