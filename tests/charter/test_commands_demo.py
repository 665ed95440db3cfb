"""`charter demo -c org.yaml` with a mistake in org.yaml: the message points at the file, line
and column, exit 2, before the embedded AWS starts or anything is written to --keep."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

SMALL = Path(__file__).resolve().parents[2] / "examples" / "small" / "org.yaml"


def test_demo_with_a_broken_org_yaml_stops_before_anything_starts(monkeypatch: pytest.MonkeyPatch,
                                                                  capsys: pytest.CaptureFixture[str],
                                                                  tmp_path: Path) -> None:
    from charter.cli import main

    lines = SMALL.read_text().splitlines(keepends=True)
    row = next(i for i, line in enumerate(lines) if line.startswith("  home_region:"))
    lines[row] = "  home_region: us-north-9\n"
    config = tmp_path / "org.yaml"
    config.write_text("".join(lines))
    keep = tmp_path / "demo"
    monkeypatch.setattr(sys, "argv", ["charter", "demo", "-c", str(config), "--keep", str(keep)])
    with pytest.raises(SystemExit) as ended:
        main()
    err = " ".join(capsys.readouterr().err.split())
    assert ended.value.code == 2, err
    assert f"{config}:{row + 1}:3: organization.home_region: 'us-north-9' is not an AWS region" in err
    assert not keep.exists()
