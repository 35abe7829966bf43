"""The trace of a run: one JSON event a line, attachments beside it, secrets never written."""
