"""``lumigram search reindex`` and ``lumigram admin hide-from-trends``, run in-process on
an embedded data folder (the rebuild itself is checked against live searches in
tests/api/test_search.py, hiding in tests/api/test_trends.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from lumigram.cli import app


def test_reindex_and_hide_from_trends(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LUMIGRAM_DATA_DIR", str(tmp_path / "data"))
    runner = CliRunner()
    assert runner.invoke(app, ["migrate"]).exit_code == 0
    rebuilt = runner.invoke(app, ["search", "reindex"])
    assert rebuilt.exit_code == 0, rebuilt.output
    assert "indexed 0 post(s) and 0 account(s)" in rebuilt.output
    unknown = runner.invoke(app, ["admin", "hide-from-trends", "--tag", "nosuchtag"])
    assert unknown.exit_code == 1
    both = runner.invoke(app, ["admin", "hide-from-trends", "--tag", "a", "--status", "1"])
    assert both.exit_code == 2
