"""`charter init`: a commented starter org.yaml (the file sits beside this module)."""

from __future__ import annotations

from importlib.resources import files


def starter_text() -> str:
    return files("charter.config").joinpath("starter.yaml").read_text(encoding="utf-8")
