"""The run's call journal on a real file: what a resume may answer from, and what not."""

from __future__ import annotations

from pathlib import Path

from magentic import secrets
from magentic.llm.journal import CallJournal


async def test_only_entries_after_the_checkpoint_are_replayed_in_order_once(
    tmp_path: Path,
) -> None:
    path = tmp_path / "calls.jsonl"
    first = CallJournal(path)
    await first.record("k-old", {"text": "before the checkpoint"})
    checkpoint_at = first.size
    await first.record("k", {"text": "one"})
    await first.record("k", {"text": "two"})
    with path.open("ab") as handle:
        handle.write(b'{"key": "k", "record": {"text": "cut by the ki')  # a kill mid-line

    resumed = CallJournal(path)
    assert resumed.replay_from(checkpoint_at) == 2
    assert resumed.take("k-old") is None  # older than the checkpoint: asked live
    assert [resumed.take("k"), resumed.take("k"), resumed.take("k")] == [
        {"text": "one"},
        {"text": "two"},
        None,
    ]
    # The half line is gone, so the next entry starts on a line of its own.
    await resumed.record("k2", {"text": "after"})
    again = CallJournal(path)
    assert again.replay_from(checkpoint_at) == 3 and again.take("k2") == {"text": "after"}


async def test_secrets_never_reach_the_journal(tmp_path: Path) -> None:
    secrets.register(["sk-journal-test-0123456789"])
    journal = CallJournal(tmp_path / "calls.jsonl")
    await journal.record("k", {"text": "the key is sk-journal-test-0123456789", "usage": [1, 2]})
    written = (tmp_path / "calls.jsonl").read_text()
    assert "sk-journal-test" not in written and "[redacted]" in written


async def test_a_journal_that_cannot_be_written_is_given_up_quietly(tmp_path: Path) -> None:
    (tmp_path / "calls.jsonl").mkdir()  # a folder in the way
    journal = CallJournal(tmp_path / "calls.jsonl")
    size = journal.size
    await journal.record("k", {"text": "x"})
    await journal.record("k", {"text": "y"})  # given up after the first failure: no raise
    assert journal.size == size and journal.take("k") is None
