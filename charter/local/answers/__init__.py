"""Operations moto lacks that Charter's collectors read, answered from the state moto holds."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any


def answer(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes] | None:
    return None
