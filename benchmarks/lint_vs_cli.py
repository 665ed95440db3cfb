"""In-process lint vs the cfn-lint and checkov CLIs over the same templates.

Peers, measured in this same run on the same synthesized templates:
- per-stack CLIs: `cfn-lint T` and `checkov -f T` once per template, as a pipeline that
  lints each stack as it is built does;
- batched CLIs: one `cfn-lint T1 T2 ...` and one `checkov -d DIR` for all templates.

Usage: python benchmarks/lint_vs_cli.py [-c examples/large/org.yaml] [--repeat 1]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def run(cmd: list[str]) -> None:
    # both CLIs exit non-zero on findings; the timing is what matters here
    subprocess.run(cmd, capture_output=True, text=True, check=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    default = REPO / "examples" / "large" / "org.yaml"
    parser.add_argument("-c", "--config", type=Path, default=default if default.exists() else REPO / "examples/small/org.yaml")
    args = parser.parse_args()

    from charter.landing_zone.config import load_config
    from charter.landing_zone.lint import Linter
    from charter.landing_zone.synth import build_plan, synthesize, write_output

    cfg = load_config(args.config)
    out = Path(tempfile.mkdtemp(prefix="charter-bench-lint-"))
    synth_s = timed(lambda: write_output(stacks := synthesize(cfg), build_plan(cfg, stacks), out))
    files = sorted(out.glob("*.yaml"))
    regions = list(cfg.organization.governed_regions)
    print(f"config: {args.config.relative_to(REPO)}  templates: {len(files)}  synth: {synth_s:.2f}s")

    report_holder = {}
    charter_s = timed(lambda: report_holder.setdefault("r", Linter(regions).lint_dir(out)))
    report = report_holder["r"]
    print(f"charter in-process lint: {charter_s:.2f}s ({len(report.findings)} findings)")

    cfn_lint = shutil.which("cfn-lint")
    checkov = shutil.which("checkov")
    if not (cfn_lint and checkov):
        sys.exit("cfn-lint and checkov CLIs must be on PATH for the comparison")
    region_args = ["--regions", *regions]
    per_stack_s = timed(lambda: [
        (run([cfn_lint, *region_args, "--", str(f)]),
         run([checkov, "-f", str(f), "--framework", "cloudformation", "--skip-download", "--quiet", "--compact"]))
        for f in files
    ])
    batched_s = timed(lambda: (
        run([cfn_lint, *region_args, "--", *map(str, files)]),
        run([checkov, "-d", str(out), "--framework", "cloudformation", "--skip-download", "--quiet", "--compact"]),
    ))
    print(f"peer: cfn-lint + checkov CLIs per stack: {per_stack_s:.2f}s")
    print(f"peer: cfn-lint + checkov CLIs batched:   {batched_s:.2f}s")
    print(f"ratio vs per-stack CLIs: {per_stack_s / charter_s:.1f}x faster")
    print(f"ratio vs batched CLIs:   {batched_s / charter_s:.1f}x faster")
    shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
