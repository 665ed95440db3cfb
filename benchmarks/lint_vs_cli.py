"""`charter lint` vs the batched cfn-lint and checkov CLIs, on equal terms, over the same templates.

Both sides lint the same synthesized directory (plus one deliberately flawed template, so the
findings compared are never empty) and are measured the same way:

- core budget: the whole benchmark is pinned to the same CPUs (`--cores`, default 2), and
  each side runs two processes at once: Charter's cfn-lint in-process beside its checkov
  worker process; the peer's `cfn-lint T1 T2 ...` beside `checkov -d DIR`, started together;
- interpreter start and imports inside the timer for both: each run is a fresh `charter lint`
  process and fresh CLI processes;
- the same warm-up (discarded) and repetitions, with the order alternated (Charter first on
  even repetitions, the peer first on odd ones); the median is compared;
- the same checkov release from the same environment (`charter tools install`): the peer runs
  its console script as released; Charter runs it through `charter/toolenv_checkov_launch.py`,
  which builds bc-jsonpath-ng's PLY parser once per grammar (the upstream fix in docs/upstream/,
  not yet released) and is part of what `charter lint` ships, checks unchanged;
- agreement asserted before any ratio is printed: the findings as (tool, template, resource,
  rule) must be the same sets on both sides, and checkov's passed-check counts equal; any
  difference stops the benchmark (exit 1) with the difference.

Usage: python benchmarks/lint_vs_cli.py [-c examples/large/org.yaml] [--repeat 3] [--warmup 1] [--cores 2]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

FLAWED = "zz-benchmark-flawed.yaml"
Finding = tuple[str, str, str, str]  # (tool, template file, resource, rule)


def flawed_template() -> str:
    """A template both linters must flag: a Ref to a parameter that does not exist (cfn-lint)
    and an S3 bucket without encryption, logging or versioning (checkov)."""
    from troposphere import Ref, Template
    from troposphere.s3 import Bucket

    from charter.landing_zone.synth import dump_yaml

    t = Template(Description="Charter benchmark: a deliberately flawed template")
    t.add_resource(Bucket("FlawedBucket", BucketName=Ref("MissingParameter")))
    return dump_yaml(t.to_dict())


def charter_side(out: Path, regions: list[str]) -> tuple[set[Finding], int]:
    result = subprocess.run([sys.executable, "-m", "charter.cli", "lint", str(out), "--format", "json",
                             "--regions", ",".join(regions)], capture_output=True, text=True, check=False)
    if result.returncode not in (0, 1):
        sys.exit(f"charter lint failed ({result.returncode}):\n{result.stderr[-2000:]}")
    data = json.loads(result.stdout)
    findings = {(f["tool"], f["template"], f["resource"], f["rule"]) for f in data["findings"]}
    return findings, int(data["checkov_passed"])


def peer_side(out: Path, regions: list[str], cfn_lint: str, checkov: str) -> tuple[set[Finding], int]:
    files = sorted(str(f) for f in out.glob("*.yaml"))
    # started together: the same two-process budget Charter uses
    lint = subprocess.Popen([cfn_lint, "--format", "json", "--regions", *regions, "--", *files],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    cov = subprocess.Popen([checkov, "-d", str(out), "--framework", "cloudformation", "--skip-download", "--quiet",
                            "--compact", "-o", "json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env={**os.environ, "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"})
    lint_out, lint_err = lint.communicate()
    cov_out, cov_err = cov.communicate()
    findings: set[Finding] = set()
    for m in json.loads(lint_out or "[]"):
        if m["Level"] == "Informational":  # Charter reports errors and warnings, as cfn-lint's exit code does
            continue
        path = m["Location"].get("Path") or []
        resource = str(path[1]) if len(path) > 1 and path[0] == "Resources" else ""
        findings.add(("cfn-lint", Path(m["Filename"]).name, resource, m["Rule"]["Id"]))
    reports = json.loads(cov_out) if cov_out.strip() else []
    passed = 0
    for rep in reports if isinstance(reports, list) else [reports]:
        if rep.get("check_type", "cloudformation") != "cloudformation":
            continue
        passed += int(rep["summary"]["passed"])
        for f in rep["results"]["failed_checks"]:
            findings.add(("checkov", Path(f["file_path"]).name, f["resource"].split(".", 1)[-1], f["check_id"]))
    if lint.returncode not in (0, 2, 4, 6, 8, 10, 12, 14) or cov.returncode not in (0, 1):
        sys.exit(f"peer CLIs failed: cfn-lint {lint.returncode} {lint_err[-500:]} / checkov {cov.returncode} "
                 f"{cov_err[-500:]}")
    return findings, passed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("-c", "--config", type=Path, default=REPO / "examples" / "large" / "org.yaml")
    parser.add_argument("--repeat", type=int, default=3, help="measured runs per side (default 3)")
    parser.add_argument("--warmup", type=int, default=1, help="discarded runs per side first (default 1)")
    parser.add_argument("--cores", type=int, default=2, help="CPUs both sides are pinned to (default 2)")
    args = parser.parse_args()

    available = sorted(os.sched_getaffinity(0))
    cpus = set(available[:max(1, args.cores)])
    os.sched_setaffinity(0, cpus)  # inherited by every process either side starts

    from charter.landing_zone.config import load_config
    from charter.landing_zone.synth import build_plan, synthesize, write_output
    from charter.toolenv import ensure_checkov

    # the peer's checkov is the one `charter lint` runs (its own environment, same version)
    cfn_lint, checkov = shutil.which("cfn-lint"), str(ensure_checkov())
    if not cfn_lint:
        sys.exit("the cfn-lint CLI must be on PATH for the comparison")
    cfg = load_config(args.config)
    regions = list(cfg.organization.governed_regions)
    out = Path(tempfile.mkdtemp(prefix="charter-bench-lint-"))
    try:
        stacks = synthesize(cfg)
        write_output(stacks, build_plan(cfg, stacks), out)
        (out / FLAWED).write_text(flawed_template())
        files = sorted(out.glob("*.yaml"))
        print(f"config: {args.config}  templates: {len(files)} ({len(files) - 1} synthesized + 1 flawed), "
              f"{sum(len(s.data.get('Resources', {})) for s in stacks)} resources")
        print(f"core budget: CPUs {sorted(cpus)} of {len(available)} for both sides, two processes each "
              "(charter: cfn-lint in-process + checkov worker; peer: cfn-lint CLI + checkov CLI started together)")
        print(f"runs: {args.warmup} warm-up + {args.repeat} measured per side, interpreter start and imports "
              "timed on both sides, order alternated (charter first on even runs)")

        def charter() -> tuple[set[Finding], int]:
            return charter_side(out, regions)

        def peer() -> tuple[set[Finding], int]:
            return peer_side(out, regions, cfn_lint, checkov)

        times: dict[str, list[float]] = {"charter": [], "peer": []}
        results: dict[str, tuple[set[Finding], int]] = {}
        for i in range(args.warmup + args.repeat):
            order = [("charter", charter), ("peer", peer)] if i % 2 == 0 else [("peer", peer), ("charter", charter)]
            for name, fn in order:
                start = time.perf_counter()
                results[name] = fn()
                elapsed = time.perf_counter() - start
                if i >= args.warmup:
                    times[name].append(elapsed)
            if results["charter"] != results["peer"]:
                (ours, ours_passed), (theirs, theirs_passed) = results["charter"], results["peer"]
                print("DISAGREEMENT: the two sides found different things; no ratio is printed")
                for f in sorted(ours - theirs):
                    print(f"  only charter: {f}")
                for f in sorted(theirs - ours):
                    print(f"  only peer:    {f}")
                print(f"  checkov passed checks: charter {ours_passed}, peer {theirs_passed}")
                return 1
        findings, passed = results["charter"]
        print(f"agreement asserted on every run: identical findings ({len(findings)}: "
              f"{sum(f[0] == 'cfn-lint' for f in findings)} cfn-lint, {sum(f[0] == 'checkov' for f in findings)} "
              f"checkov, in {', '.join(sorted({f[1] for f in findings}))}) and identical checkov passed checks "
              f"({passed}); tolerance: exact")
        med = {k: statistics.median(v) for k, v in times.items()}
        for name in ("charter", "peer"):
            label = "charter lint (CLI process)" if name == "charter" else "peer: cfn-lint + checkov CLIs, batched"
            print(f"{label:<40} median {med[name]:6.2f} s  min {min(times[name]):6.2f} s  "
                  f"runs {' '.join(f'{t:.2f}' for t in times[name])}")
        print(f"ratio (peer median / charter median): {med['peer'] / med['charter']:.2f}x  "
              f"(charter / peer: {med['charter'] / med['peer']:.2f}, below 1 is charter faster)")
        return 0
    finally:
        shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
