"""What the benchmarks that drive the embedded shape through its API share: a served
`lumigram serve` on a fresh data folder, and plain JPEGs to upload."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time

import httpx
from feed import Stack, free_ports, lumigram


def solid_jpeg(seed: int, size: tuple[int, int]) -> bytes:
    """A one-colour JPEG of ``size``, its colour taken from ``seed`` so uploads differ."""
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", size, (seed % 256, (seed * 7) % 256, (seed * 13) % 256)).save(out, "JPEG", quality=85)
    return out.getvalue()


def start_embedded(stack: Stack) -> str:
    """Migrate and start ``lumigram serve`` on the embedded shape in ``stack.workdir / "data"``;
    its base URL once it answers ``/readyz``."""
    (port,) = free_ports(1)
    base_url = f"http://127.0.0.1:{port}"
    stack.env.update(
        LUMIGRAM_DATA_DIR=str(stack.workdir / "data"),
        LUMIGRAM_LOG_LEVEL="warning",
        LUMIGRAM_HOST="127.0.0.1",
        LUMIGRAM_PORT=str(port),
        LUMIGRAM_BASE_URL=base_url,
        # Every client shares one address, and benchmarks write far faster than people do.
        LUMIGRAM_SIGNUP_RATE_LIMIT="1000000",
        LUMIGRAM_POST_RATE_LIMIT="1000000",
        LUMIGRAM_FOLLOW_RATE_LIMIT="1000000",
        LUMIGRAM_LOGIN_RATE_LIMIT="1000000",
    )
    subprocess.run(lumigram("migrate"), env={**os.environ, **stack.env}, check=True, capture_output=True)
    stack.pids["serve"] = stack.popen([sys.executable, "-m", "lumigram.cli", "serve", "--no-migrate"], "serve").pid
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{base_url}/readyz", timeout=2).status_code == 200:
                return base_url
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError("lumigram serve was not ready within 60 s")
        time.sleep(0.1)
