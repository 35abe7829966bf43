"""`manifest.json`: what a bench run was, so its numbers can be reproduced and compared.

It records the project's version and git commit, the models and endpoints per role (never a
key: the config's own summary leaves them out), a hash of the prompt texts, the config, a
hash of the suite's files, the selection flags and the machine. Two folders may be merged,
or a run resumed, only when everything but the machine, the time and the shard agrees:
otherwise the numbers would mix two different systems.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import magentic
from magentic.bench.suite import Suite
from magentic.errors import ConfigError

MANIFEST = "manifest.json"
PACKAGE = Path(magentic.__file__).resolve().parent
# Where the prompt texts live: every upper-case module-level string constant in these files.
PROMPT_FILES = (
    "orchestrator/prompts.py",
    "agents/file_prompts.py",
    "agents/web_surfer/prompts.py",
    "agents/coder.py",
)
# Flags that change what is measured; the rest (shard, out, concurrency...) do not.
COMPARED_OPTIONS = ("level", "tasks", "limit", "repeat", "task_timeout", "model", "judge_model")
VARYING = {"machine", "started", "shard", "options", "merged_from"}


def prompts_hash() -> str:
    """sha256 over the prompt constants (name and text), not the code around them, so a
    refactor leaves it alone and a changed word in a prompt does not."""
    digest = hashlib.sha256()
    for name in PROMPT_FILES:
        path = PACKAGE / name
        if not path.is_file():
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            targets = node.targets if isinstance(node, ast.Assign) else []
            if isinstance(node, ast.AnnAssign):
                targets = [node.target]
            value = getattr(node, "value", None)
            if not (isinstance(value, ast.Constant) and isinstance(value.value, str)):
                continue
            for target in targets:
                if isinstance(target, ast.Name) and target.id.isupper():
                    digest.update(f"{name}:{target.id}\0{value.value}\0".encode())
    return digest.hexdigest()


def suite_hash(suite: Suite) -> str:
    """sha256 over every file in the suite folder (relative path and bytes), sorted."""
    digest = hashlib.sha256()
    for path in sorted(p for p in suite.root.rglob("*") if p.is_file()):
        relative = path.relative_to(suite.root).as_posix()
        if "__pycache__" in relative:
            continue
        digest.update(relative.encode() + b"\0")
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def git_commit() -> dict[str, Any] | None:
    """The checkout's commit and whether it had uncommitted changes; None outside git."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=PACKAGE,
            capture_output=True,
            text=True,
            timeout=10,
        )
        if head.returncode != 0:
            return None
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=PACKAGE,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": head.stdout.strip(), "dirty": bool(status.stdout.strip())}


def machine() -> dict[str, Any]:
    return {
        "host": platform.node(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
    }


def build(suite: Suite, options: dict[str, Any], config: dict[str, Any] | None) -> dict[str, Any]:
    """The manifest of a run (blocking: hashes files; call it in a thread)."""
    models = (config or {}).get("models", {})
    built = {
        "version": magentic.__version__,
        "git": git_commit(),
        "models": {
            role: {"model": m.get("model"), "base_url": m.get("base_url")}
            for role, m in models.items()
        },
        "prompts_sha256": prompts_hash(),
        "config": config,
        "suite": {"name": suite.name, "kind": suite.kind, "sha256": suite_hash(suite)},
        "selection": {k: options.get(k) for k in COMPARED_OPTIONS},
        "shard": options.get("shard"),
        "machine": machine(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    return json.loads(json.dumps(built, default=str))  # as it reads back from disk


def read(folder: Path) -> dict[str, Any] | None:
    path = folder / MANIFEST
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path} is not readable JSON ({exc})") from None


def write(folder: Path, manifest: dict[str, Any]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    text = json.dumps(manifest, indent=2, default=str) + "\n"
    (folder / MANIFEST).write_text(text, encoding="utf-8")


def differences(first: dict[str, Any], second: dict[str, Any]) -> list[str]:
    """The top-level fields (and the selection's flags) in which two manifests disagree."""
    keys = sorted((set(first) | set(second)) - VARYING)
    found = [k for k in keys if k != "selection" and first.get(k) != second.get(k)]
    one, two = first.get("selection") or {}, second.get("selection") or {}
    found += [f"selection.{k}" for k in sorted(set(one) | set(two)) if one.get(k) != two.get(k)]
    return found


def check_same(folders: list[Path], *, force: bool) -> dict[str, Any] | None:
    """The first folder's manifest, after checking every folder has one equal to it.

    Raises ConfigError naming the two folders and the fields that differ, unless `force`."""
    manifests = [(folder, read(folder)) for folder in folders]
    if force:
        return next((m for _, m in manifests if m is not None), None)
    for folder, manifest in manifests:
        if manifest is None:
            raise ConfigError(f"{folder} has no {MANIFEST}; merge with --force to accept it")
    base_folder, base = manifests[0]
    assert base is not None
    for folder, manifest in manifests[1:]:
        assert manifest is not None
        fields = differences(base, manifest)
        if fields:
            raise ConfigError(
                f"{base_folder} and {folder} are different runs (their manifests differ in "
                f"{', '.join(fields)}); merge with --force to combine them anyway"
            )
    return base
