"""The Charter console: the single-page web app in front of the optimizer API and the evidence store.

`src/` is the app (Preact + Vite; see package.json); `dist/` is its build, committed and
installed with the Python package, so serving it needs no Node. `dist_dir()` is where
the built files are; `build-info.json` in it records the hash of the sources it was built
from (`npm run build` writes it), which a test compares with the sources to catch a stale
build.
"""

from __future__ import annotations

from pathlib import Path

CONSOLE_DIR = Path(__file__).resolve().parent


def dist_dir() -> Path:
    """The built app (index.html, assets/)."""
    return CONSOLE_DIR / "dist"
