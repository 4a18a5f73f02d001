"""``lumigram search reindex``, run as an operator would (the rebuild itself is checked
against live searches in tests/api/test_search.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def _run(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LUMIGRAM_DATA_DIR": str(data)}
    return subprocess.run(
        [sys.executable, "-m", "lumigram.cli", *args], env=env, capture_output=True, text=True, timeout=120
    )


def test_reindex_rebuilds_an_empty_database(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert _run(data, "migrate").returncode == 0
    result = _run(data, "search", "reindex")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "indexed 0 post(s) and 0 account(s)"
