"""What the embedded AWS holds beyond moto's backends: the resources whose types moto's
CloudFormation skips and whose service moto lacks (or lacks the read of), by account and
region. Emptied with moto's backends (`/moto-api/reset`, a new embedded AWS)."""

from __future__ import annotations

import threading
from collections import defaultdict
from typing import Any

_LOCK = threading.Lock()
#: kind -> (account, region) -> name -> resource
_RESOURCES: dict[str, dict[tuple[str, str], dict[str, dict[str, Any]]]] = defaultdict(lambda: defaultdict(dict))


def put(kind: str, account: str, region: str, name: str, resource: dict[str, Any]) -> None:
    with _LOCK:
        _RESOURCES[kind][(account, region)][name] = resource


def remove(kind: str, account: str, region: str, name: str) -> None:
    with _LOCK:
        _RESOURCES[kind][(account, region)].pop(name, None)


def items(kind: str, account: str, region: str) -> list[dict[str, Any]]:
    with _LOCK:
        return list(_RESOURCES[kind][(account, region)].values())


def reset() -> None:
    with _LOCK:
        _RESOURCES.clear()


def reset_with_moto() -> None:
    """Empty this state whenever moto's backends are reset."""
    from moto.moto_api._internal.models import moto_api_backend

    original = type(moto_api_backend).reset
    if getattr(original, "charter_state", False):
        return

    def reset_all(self) -> None:
        original(self)
        reset()

    reset_all.charter_state = True  # type: ignore[attr-defined]
    type(moto_api_backend).reset = reset_all
