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
