"""axe-core over every page of the web app, in Chromium, in the light and the dark theme.

On the small world of ``tests.web.site``, each page in its ``PAGES`` list is opened as its
visitor, brought to its state, and checked by axe-core (the npm package in
tests/clients/node, pinned by its lockfile); a serious or critical violation fails the
test. Contrast is checked again after switching the system theme to dark. The main tab
bar is checked to fit, unclipped and named, at 390 and 1440 px wide.

axe is added to every document as an init script, which the pages' strict
Content-Security-Policy would refuse, so these contexts bypass the policy (the browser
journey checks the pages under it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.live import LiveServer
from tests.web.site import PAGES, PEOPLE, open_page, seed, sign_in

# On the web app's one live server, which the browser journey shares (tests/web/conftest.py).
pytestmark = [pytest.mark.browser, pytest.mark.live, pytest.mark.xdist_group("webapp")]

AXE = Path(__file__).resolve().parent.parent / "clients/node/node_modules/axe-core/axe.min.js"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1440, "height": 900}
FAILING = ("serious", "critical")


def _violations(page: Any, only_contrast: bool = False) -> list[str]:
    options = {"runOnly": ["color-contrast"]} if only_contrast else {}
    found = page.evaluate(
        """async (options) => (await axe.run(document, {...options, resultTypes: ["violations"]}))
             .violations.map((v) => ({id: v.id, impact: v.impact, help: v.help,
                                      nodes: v.nodes.slice(0, 3).map((n) => n.target.join(" "))}))""",
        options,
    )
    return [f"{v['id']} ({v['impact']}): {v['help']} at {v['nodes']}" for v in found if v["impact"] in FAILING]


def _tab_bar_problems(page: Any) -> list[str]:
    """What keeps the main tab bar from being usable at the page's size: a tab outside the
    window or overlapping the next one, a tab too small to hit, a tab without its label's
    words in its name, or a page wider than the window."""
    found: list[str] = page.evaluate(
        """() => {
             const problems = [];
             const tabs = [...document.querySelectorAll("nav.tabs > a")];
             const boxes = tabs.map((tab) => tab.getBoundingClientRect());
             const names = tabs.map((tab) => tab.querySelector(".label").textContent.trim());
             boxes.forEach((box, n) => {
               if (box.left < 0 || box.right > window.innerWidth) problems.push(`${names[n]} is outside the window`);
               if (box.width < 44 || box.height < 44) problems.push(`${names[n]} is smaller than 44 px`);
               if (n > 0 && box.left < boxes[n - 1].right - 0.5) problems.push(`${names[n]} overlaps ${names[n - 1]}`);
               if (!tabs[n].textContent.includes(names[n])) problems.push(`${names[n]} has lost its name`);
             });
             if (tabs.length < 7) problems.push(`only ${tabs.length} tabs`);
             if (document.documentElement.scrollWidth > window.innerWidth) problems.push("the page scrolls sideways");
             return problems;
           }"""
    )
    return found


def test_every_page_has_no_serious_accessibility_violation_in_either_theme(
    app_server: LiveServer, browser: Any, tmp_path: Path
) -> None:
    if not AXE.exists():
        pytest.fail("axe-core is not installed: run `make test` (npm ci in tests/clients/node)", pytrace=False)
    server = app_server
    world = seed(server.base_url, tmp_path)
    contexts = {
        who: browser.new_context(viewport=PHONE, base_url=server.base_url, bypass_csp=True, color_scheme="light")
        for who in PEOPLE
    }
    for context in contexts.values():
        # In every document the context opens, before the page's own scripts.
        context.add_init_script(path=str(AXE))
    problems: list[str] = []
    try:
        for who, context in contexts.items():
            if who != "visitor":
                sign_in(context, who)
        page_of = {who: context.new_page() for who, context in contexts.items()}
        for entry in PAGES:
            page = page_of[entry.who]
            page.emulate_media(color_scheme="light")
            open_page(page, entry, world)
            problems += [f"{entry.name} (light): {v}" for v in _violations(page)]
            page.emulate_media(color_scheme="dark")
            problems += [f"{entry.name} (dark): {v}" for v in _violations(page, only_contrast=True)]
        # The tab bar, on a page whose own content fits a phone, at both sizes.
        home = page_of["ann"]
        home.goto("/settings/profile")
        problems += [f"tab bar at 390 px: {problem}" for problem in _tab_bar_problems(home)]
        home.set_viewport_size(DESKTOP)
        problems += [f"tab bar at 1440 px: {problem}" for problem in _tab_bar_problems(home)]
    finally:
        for context in contexts.values():
            context.close()
    assert problems == [], "\n".join(problems)
