from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from lumigram.config import Settings, describe_error


def test_defaults_are_the_embedded_shape(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert settings.database_url == f"sqlite+aiosqlite:///{tmp_path / 'lumigram.db'}"
    assert settings.media_url == f"file://{tmp_path / 'media'}"
    assert settings.cache_url == "memory://"
    assert settings.bus_url == "memory://"
    assert settings.run_inline_worker is True


def test_the_inline_worker_is_off_by_default_on_nats() -> None:
    assert Settings(bus_url="nats://127.0.0.1:4222").run_inline_worker is False


@pytest.mark.parametrize(
    ("field", "value", "variable"),
    [
        ("database_url", "mysql://db/lumigram", "LUMIGRAM_DATABASE_URL"),
        ("media_url", "ftp://files", "LUMIGRAM_MEDIA_URL"),
        ("media_url", "s3://?endpoint=http://x", "LUMIGRAM_MEDIA_URL"),
        ("cache_url", "memcached://x", "LUMIGRAM_CACHE_URL"),
        ("bus_url", "kafka://x", "LUMIGRAM_BUS_URL"),
        ("base_url", "example.org", "LUMIGRAM_BASE_URL"),
        ("secret_key", "short", "LUMIGRAM_SECRET_KEY"),
    ],
)
def test_a_bad_setting_is_named_in_one_line(field: str, value: str, variable: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(**{field: value})
    message = describe_error(caught.value)
    assert variable in message or "LUMIGRAM_SECRET_KEY" in message
    assert len(message.splitlines()) == 1


def test_the_secret_key_is_generated_once_and_kept(tmp_path: Path) -> None:
    first = Settings(data_dir=tmp_path).ensure_secret_key()
    second = Settings(data_dir=tmp_path).ensure_secret_key()
    assert first == second
    assert len(first) >= 32
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_the_command_refuses_a_wrong_url_at_start(tmp_path: Path) -> None:
    env = {**os.environ, "LUMIGRAM_DATA_DIR": str(tmp_path), "LUMIGRAM_BUS_URL": "kafka://broker:9092"}
    result = subprocess.run(
        [sys.executable, "-m", "lumigram.cli", "migrate"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "LUMIGRAM_BUS_URL" in result.stderr
    assert "kafka" in result.stderr
    assert "Traceback" not in result.stderr
