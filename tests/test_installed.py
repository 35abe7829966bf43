"""`magentic doctor` finds the other library named magentic in the same environment.

The other library is a real distribution installed by real pip: a wheel with the PyPI
project's name and its own top-level `magentic` package (as `pip install magentic` would
bring, per the README's old advice), installed into a folder the check is pointed at.
"""

from __future__ import annotations

import base64
import hashlib
import subprocess
import sys
import zipfile
from pathlib import Path

from magentic.doctor import check_install


def _wheel(folder: Path) -> Path:
    """magentic-0.41.1-py3-none-any.whl: a top-level `magentic` package, not ours."""
    files = {
        "magentic/__init__.py": "from .prompt_function import prompt\n",
        "magentic/prompt_function.py": "def prompt(template):\n    return template\n",
        "magentic-0.41.1.dist-info/METADATA": (
            "Metadata-Version: 2.1\nName: magentic\nVersion: 0.41.1\n"
            "Summary: Seamlessly integrate LLMs as Python functions\n"
        ),
        "magentic-0.41.1.dist-info/WHEEL": (
            "Wheel-Version: 1.0\nGenerator: hand\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    record = []
    for name, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        record.append(f"{name},sha256={digest.decode()},{len(text.encode())}")
    record.append("magentic-0.41.1.dist-info/RECORD,,")
    files["magentic-0.41.1.dist-info/RECORD"] = "\n".join(record) + "\n"
    path = folder / "magentic-0.41.1-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as wheel:
        for name, text in files.items():
            wheel.writestr(name, text)
    return path


def test_the_other_magentic_library_is_named_with_what_to_do(tmp_path: Path) -> None:
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index",
         "--target", str(site), str(_wheel(tmp_path))],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    found = check_install([str(site), *sys.path])
    assert not found.ok
    assert "magentic 0.41.1" in found.detail
    assert "pip uninstall magentic" in found.fix and "magentic-team" in found.fix


def test_our_own_install_is_not_taken_for_the_other_library() -> None:
    found = check_install()
    assert found.ok, found.detail
