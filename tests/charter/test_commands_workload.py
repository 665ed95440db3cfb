"""`charter workload serve`: the mistakes a user makes end in a message and exit 2 before any
server, embedded AWS or AWS call starts: an org.yaml without the environment's optimizer
section, and two AWS targets at once."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from cli_testkit import flat

REPO = Path(__file__).resolve().parents[2]
SMALL = REPO / "examples" / "small" / "org.yaml"


@pytest.fixture()
def charter(charter, monkeypatch: pytest.MonkeyPatch):
    """`charter(*args)` with no AWS credentials or endpoint in the environment (so any AWS call
    would fail loudly)."""
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name, raising=False)
    return charter


def test_serve_without_the_environments_section_names_it(charter, tmp_path: Path) -> None:
    # org.yaml without its `workloads:` section (it runs up to the `cost:` section)
    text = re.sub(r"(?ms)^workloads:\n.*?(?=^cost:)", "", SMALL.read_text())
    assert "workloads:" not in text
    config = tmp_path / "org.yaml"
    config.write_text(text)
    code, out, err = charter("workload", "serve", "-c", str(config), "--env", "dev", "--port", "0", "--local")
    said = flat(err)
    assert code == 2, out + err
    assert f"{config}: no `workloads: optimizer: environments: dev:` section" in said
    assert "add the environment to org.yaml or pass --env with one that exists" in said
    assert "optimizer API" not in out  # no server started


def test_serve_with_two_aws_targets_is_exit_2(charter) -> None:
    code, out, err = charter("workload", "serve", "-c", str(SMALL), "--env", "dev", "--port", "0", "--local",
                             "--profile", "prod")
    said = flat(err)
    assert code == 2, out + err
    assert "--local and --profile together: they name different AWS targets" in said and "pass one" in said
