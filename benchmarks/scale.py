"""`charter validate`, `synth` and `lint` on `examples/huge` (5,000 accounts) against `examples/large`
(62 accounts), measured in the same run, on equal terms.

- core budget: the whole benchmark is pinned to the same CPUs (`--cores`, default 2) and the
  two sizes run one at a time, each step a fresh `charter` CLI process (interpreter start and
  imports inside the timer for both sizes, as a user meets them);
- the same warm-up (discarded) and repetitions per size, the order alternated (large first on
  even repetitions, huge first on odd ones); the median is compared;
- asserted on every run, before any ratio is printed: every step succeeds, `charter lint`
  reports no finding on either size, and every template of both sizes is within
  CloudFormation's limits (500 resources, 200 parameters, 200 outputs, 1 MB body).

The issue's targets are printed beside the measurement: huge's synth within 30 s, huge's
lint within 2x of large's.

Usage: python benchmarks/scale.py [--accounts 5000] [--repeat 1] [--warmup 0] [--cores 2] [--no-lint]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
LARGE = REPO / "examples" / "large" / "org.yaml"
STEPS = ("validate", "synth", "lint")
LIMITS = {"Resources": 500, "Parameters": 200, "Outputs": 200}
MAX_BODY = 1_000_000


def generate_huge(accounts: int) -> str:
    spec = importlib.util.spec_from_file_location("generate_huge", REPO / "examples" / "generate_huge.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.generate(accounts=accounts)


def charter(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "charter.cli", *args], capture_output=True, text=True, check=False)


class _CfnLoader(yaml.CSafeLoader):
    """Reads CloudFormation's short-form tags (!Ref, !Sub, ...) as plain values."""


_CfnLoader.add_multi_constructor("!", lambda loader, suffix, node: None)


def over_limits(out: Path) -> list[str]:
    """Every template in `out` beyond one of CloudFormation's limits."""
    breaches = []
    for f in sorted(out.glob("*.yaml")):
        body = f.read_bytes()
        if len(body) > MAX_BODY:
            breaches.append(f"{f.name}: {len(body):,} bytes > {MAX_BODY:,}")
        data = yaml.load(body, Loader=_CfnLoader) or {}
        for section, limit in LIMITS.items():
            if len(data.get(section) or {}) > limit:
                breaches.append(f"{f.name}: {len(data[section])} {section} > {limit}")
    return breaches


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_size(config: Path, out: Path, lint: bool) -> tuple[dict[str, float], dict[str, float], int]:
    """Wall and CPU times of each step (s), and the number of templates; exits on any failure
    or finding."""
    times: dict[str, float] = {}
    cpu: dict[str, float] = {}
    shutil.rmtree(out, ignore_errors=True)
    for step in STEPS:
        if step == "lint" and not lint:
            continue
        args = {"validate": ("validate", "-c", str(config)), "synth": ("synth", "-c", str(config), "-o", str(out)),
                "lint": ("lint", str(out), "--format", "json")}[step]
        start, start_cpu = time.perf_counter(), children_cpu()
        result = charter(*args)
        times[step], cpu[step] = time.perf_counter() - start, children_cpu() - start_cpu
        if result.returncode != 0:
            detail = result.stdout[-2000:] + result.stderr[-2000:]
            if step == "lint" and result.stdout.strip().startswith("{"):
                detail = json.dumps(json.loads(result.stdout)["findings"][:10], indent=1)
            sys.exit(f"DISAGREEMENT: charter {step} on {config} exited {result.returncode}; no ratio printed\n{detail}")
    breaches = over_limits(out)
    if breaches:
        sys.exit(f"DISAGREEMENT: templates beyond CloudFormation's limits from {config}; no ratio printed\n"
                 + "\n".join(breaches))
    return times, cpu, len(list(out.glob("*.yaml")))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--accounts", type=int, default=5000, help="accounts in the huge example (default 5000)")
    parser.add_argument("--repeat", type=int, default=1, help="measured runs per size (default 1)")
    parser.add_argument("--warmup", type=int, default=0, help="discarded runs per size first (default 0)")
    parser.add_argument("--cores", type=int, default=2, help="CPUs both sizes are pinned to (default 2)")
    parser.add_argument("--no-lint", action="store_true", help="validate and synth only")
    args = parser.parse_args()

    available = sorted(os.sched_getaffinity(0))
    cpus = set(available[:max(1, args.cores)])
    os.sched_setaffinity(0, cpus)  # inherited by every charter process started below

    work = Path(tempfile.mkdtemp(prefix="charter-bench-scale-"))
    try:
        huge = work / "huge.yaml"
        huge.write_text(generate_huge(args.accounts))
        sizes = {"large": LARGE, "huge": huge}
        print(f"sizes: large = {LARGE.relative_to(REPO)}; huge = examples/generate_huge.py --accounts {args.accounts}")
        print(f"core budget: CPUs {sorted(cpus)} of {len(available)}, one size at a time, each step a fresh "
              "charter process (interpreter start and imports timed for both sizes)")
        print(f"runs: {args.warmup} warm-up + {args.repeat} measured per size, order alternated (large first on "
              "even runs); medians compared")
        times: dict[str, dict[str, list[float]]] = {s: {step: [] for step in STEPS} for s in sizes}
        cpus: dict[str, dict[str, list[float]]] = {s: {step: [] for step in STEPS} for s in sizes}
        templates: dict[str, int] = {}
        for i in range(args.warmup + args.repeat):
            order = list(sizes) if i % 2 == 0 else list(reversed(sizes))
            for size in order:
                measured, cpu, templates[size] = run_size(sizes[size], work / f"out-{size}", not args.no_lint)
                print(f"  run {i + 1} {size:5}: " + "  ".join(f"{k} {v:.1f} s (CPU {cpu[k]:.1f} s)"
                                                             for k, v in measured.items())
                      + (" (warm-up)" if i < args.warmup else ""), flush=True)
                if i >= args.warmup:
                    for step, t in measured.items():
                        times[size][step].append(t)
                        cpus[size][step].append(cpu[step])
        print(f"agreement asserted on every run: every step exited 0, charter lint found nothing on either size"
              f"{' (lint skipped)' if args.no_lint else ''}, and all {templates['large']} large and "
              f"{templates['huge']} huge templates are within {LIMITS['Resources']} resources, "
              f"{LIMITS['Parameters']} parameters, {LIMITS['Outputs']} outputs and {MAX_BODY:,} bytes")
        print(f"load average while measuring (the other processes sharing these CPUs): "
              f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}; CPU = user + system time of the charter "
              "process and its children, which the load inflates less than wall time")
        for step in STEPS:
            if not times["large"][step]:
                continue
            large, big = statistics.median(times["large"][step]), statistics.median(times["huge"][step])
            large_cpu, big_cpu = statistics.median(cpus["large"][step]), statistics.median(cpus["huge"][step])
            target = {"synth": f"  (issue target: huge within 30 s: wall {'met' if big <= 30 else 'NOT met'}, "
                               f"CPU {'met' if big_cpu <= 30 else 'NOT met'})",
                      "lint": f"  (issue target: huge within 2x of large: wall {'met' if big <= 2 * large else 'NOT met'}"
                              f", CPU {'met' if big_cpu <= 2 * large_cpu else 'NOT met'})"}.get(step, "")
            print(f"{step:8} wall: large {large:6.1f} s  huge {big:6.1f} s  huge/large {big / large:5.2f}x   "
                  f"CPU: large {large_cpu:6.1f} s  huge {big_cpu:6.1f} s  huge/large {big_cpu / large_cpu:5.2f}x"
                  f"{target}")
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
