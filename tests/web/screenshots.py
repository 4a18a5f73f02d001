"""Screenshots of every page of the web app, at 390×844 and 1440×900, light and dark.

Usage (from the repository, with the development tools installed):

    .venv/bin/python -m tests.web.screenshots [--out docs/screenshots]

Starts a live server on a throwaway data folder, builds the small world of
``tests.web.site`` and saves each page of its ``PAGES`` list as
``<page>-<phone|desktop>-<light|dark>.png``: the visible part of the page, as a person
first sees it, reduced to a 128-colour palette so that the files stay small.
"""

from __future__ import annotations

import argparse
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from PIL import Image

from lumigram.config import Settings
from tests.live import live_server
from tests.web.conftest import CHROMIUM_ARGS
from tests.web.site import PAGES, PEOPLE, open_page, seed, sign_in

SIZES = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1440, "height": 900}}
THEMES = ("light", "dark")
COLOURS = 128


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def _save_small(source: Path, target: Path) -> None:
    with Image.open(source) as shot:
        small = shot.convert("RGB").quantize(COLOURS, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    small.save(target, "PNG", optimize=True)


def _shoot(browser: Any, base_url: str, world: Any, out: Path, scratch: Path) -> list[Path]:
    saved: list[Path] = []
    for size_name, viewport in SIZES.items():
        contexts = {who: browser.new_context(viewport=viewport, base_url=base_url) for who in PEOPLE}
        try:
            for who, context in contexts.items():
                if who != "visitor":
                    sign_in(context, who)
            pages = {who: context.new_page() for who, context in contexts.items()}
            for entry in PAGES:
                page = pages[entry.who]
                page.emulate_media(color_scheme="light", reduced_motion="reduce")
                open_page(page, entry, world)
                page.wait_for_load_state("load")
                for theme in THEMES:
                    page.emulate_media(color_scheme=theme)
                    raw = scratch / "raw.png"
                    page.screenshot(path=str(raw), animations="disabled", caret="hide")
                    target = out / f"{slug(entry.name)}-{size_name}-{theme}.png"
                    _save_small(raw, target)
                    saved.append(target)
        finally:
            for context in contexts.values():
                context.close()
    return saved


def main(out: Path) -> None:
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        scratch = Path(folder)
        settings = Settings(
            data_dir=scratch / "data",
            secret_key="screenshots-" + "x" * 32,
            instance_title="Lumigram",
            signup_rate_limit=50,
        )
        with live_server(settings) as server, sync_playwright() as playwright:
            world = seed(server.base_url, scratch)
            executable = shutil.which("chromium") or "/usr/bin/chromium"
            browser = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
            try:
                saved = _shoot(browser, server.base_url, world, out, scratch)
            finally:
                browser.close()
    total = sum(path.stat().st_size for path in saved)
    print(f"{len(saved)} screenshots in {out}, {total / 1024:.0f} KiB in all")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    main(parser.parse_args().out)
