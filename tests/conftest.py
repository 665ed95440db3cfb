"""Shared pytest options and fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true", default=False,
                     help="Rewrite the golden templates under tests/landing_zone/golden/ from the current synth.")


@pytest.fixture(scope="session")
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden"))


@pytest.fixture(scope="session")
def small_config_path() -> Path:
    return EXAMPLES / "small" / "org.yaml"


@pytest.fixture(scope="session")
def small_config(small_config_path: Path):
    from charter.landing_zone.config import load_config

    return load_config(small_config_path)


@pytest.fixture(autouse=True, scope="session")
def _signing_key_outside_home(tmp_path_factory: pytest.TempPathFactory):
    """Local evidence stores sign with a key in the user's config directory: the suite uses its
    own, never the developer's (~/.config/charter/keys) nor one shared between runs."""
    import os

    before = {k: os.environ.get(k) for k in ("CHARTER_KEY_DIR", "CHARTER_SIGNING_KEY")}
    os.environ["CHARTER_KEY_DIR"] = str(tmp_path_factory.mktemp("charter-keys"))
    os.environ.pop("CHARTER_SIGNING_KEY", None)
    try:
        yield
    finally:
        for k, v in before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
