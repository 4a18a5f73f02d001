"""Server-rendered pages (Jinja2 templates, plain CSS): sign-in, OAuth consent, confirmations."""

from __future__ import annotations

from pathlib import Path

TEMPLATES_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"
