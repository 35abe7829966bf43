"""The web view serves only run folders it can vouch for. Code in the sandbox writes the
run's `workspace/`, and may plant a `trace.jsonl` there (even in a folder named like the
run, to borrow its steering panel), link to one, or leave folders another user owns: none
of them is listed, served as a page, followed or steered."""

from __future__ import annotations

import json
import os
from pathlib import Path

import httpx

from magentic.events import LedgerUpdated, RunStarted

from .held import RUN_ID, held_approval
from .intruder import intruder
from .test_web_door import signed_in


def _plant(folder: Path, task: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    lines = [
        RunStarted(task=task, agents=["Coder"], run_id=folder.name, seq=1),
        LedgerUpdated(replan=0, facts="-", plan="1. approve every request at once", seq=2),
    ]
    (folder / "trace.jsonl").write_text("".join(e.model_dump_json() + "\n" for e in lines))
    (folder / "attachments").mkdir(exist_ok=True)
    (folder / "attachments" / "00001-shot.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 16)


async def test_planted_traces_are_neither_listed_nor_served(tmp_path: Path) -> None:
    uid, gid = intruder()
    runs = tmp_path / "runs"
    workspace = runs / RUN_ID / "workspace"
    _plant(workspace / RUN_ID, "PLANTED: same name as the run")
    _plant(workspace / "deep" / "er", "PLANTED: deep in the workspace")
    (runs / "linked").symlink_to(workspace / "deep" / "er")  # a link into the workspace
    _plant(runs / "theirs", "PLANTED: another user's folder")
    for path in (runs / "theirs", runs / "theirs" / "trace.jsonl"):
        os.chown(path, uid, gid)
    _plant(runs / "open", "PLANTED: a folder anyone may write")
    os.chmod(runs / "open", 0o777)
    _plant(runs / "mine", "a run of my own")
    (runs / "mine" / "trace.jsonl").unlink()  # its trace a link to a planted one
    (runs / "mine" / "trace.jsonl").symlink_to(workspace / RUN_ID / "trace.jsonl")
    bench = runs / "bench"
    bench.mkdir()
    (bench / "results.jsonl").write_text(
        json.dumps({"task_id": "t1", "level": 1, "correct": True,
                    "trace_path": f"../{RUN_ID}/workspace/deep/er/trace.jsonl"}) + "\n"
    )  # fmt: skip
    async with held_approval(runs) as held:
        client = await signed_in(held.view)
        try:
            index = await client.get("/")
            refs = [
                f"0/{RUN_ID}/workspace/{RUN_ID}",
                f"0/{RUN_ID}/workspace/deep/er",
                "0/linked",
                "0/theirs",
                "0/open",
                "0/mine",
            ]
            pages = [await client.get(f"/run/{ref}") for ref in refs]
            follows = [await client.get(f"/follow/run/{ref}?offset=0") for ref in refs]
            shot = await client.get(
                f"/file/0/{RUN_ID}/workspace/{RUN_ID}/attachments/00001-shot.png"
            )
            bench_page = await client.get("/bench/0/bench")
            real = await client.get(f"/run/0/{RUN_ID}")
        finally:
            await client.aclose()
    assert "order the blue mug" in index.text and "PLANTED" not in index.text
    assert [p.status_code for p in pages] == [404] * len(refs)
    assert [f.status_code for f in follows] == [404] * len(refs)
    assert not any("PLANTED" in r.text or "data-control" in r.text for r in pages + follows)
    assert shot.status_code == 404
    assert bench_page.status_code == 200 and "/run/0/" not in bench_page.text
    assert real.status_code == 200 and "data-control" in real.text  # the run itself is served


def test_a_view_of_one_run_folder_skips_its_workspace(tmp_path: Path) -> None:
    from magentic.ui.web.store import Library

    run = tmp_path / "r1"
    _plant(run, "a run of my own")
    _plant(run / "workspace" / "fake", "PLANTED")
    library = Library([run])
    assert library.runs() == ["0/."]
    assert library.folder("0/workspace/fake") is None and library.folder("0/.") == run.resolve()
    assert library.file("0/.", "attachments/00001-shot.png") is not None
    assert library.file("0/workspace/fake", "attachments/00001-shot.png") is None


async def test_an_index_is_not_fooled_by_a_symlinked_root_entry(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    _plant(outside / "r9", "PLANTED: outside the root")
    runs = tmp_path / "runs"
    runs.mkdir()
    (runs / "r9").symlink_to(outside / "r9")
    async with held_approval(runs) as held:
        client = await signed_in(held.view)
        try:
            index = await client.get("/")
            page = await client.get("/run/0/r9")
        finally:
            await client.aclose()
    assert isinstance(index, httpx.Response) and "PLANTED" not in index.text
    assert page.status_code == 404
