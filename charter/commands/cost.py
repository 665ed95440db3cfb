"""`charter cost`: what the landing zone and the optimizer will cost, per month and per optimization."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any

import typer


class Output(StrEnum):
    table = "table"
    md = "md"
    csv = "csv"
    json = "json"


def cost(
    config: Path = typer.Option(Path("org.yaml"), "-c", "--config", help="Path to org.yaml."),
    env: str | None = typer.Option(None, "--env", help="Only this environment's accounts (prod, dev, management, ...)."),
    output: Output = typer.Option(Output.table, "--output", "-f", help="Output format.", case_sensitive=False),
    out: Path | None = typer.Option(None, "-o", "--out", help="Write to this file instead of stdout."),
    prices: Path | None = typer.Option(None, "--prices", help="Price snapshot to use (default: the one shipped with "
                                       "Charter); with --refresh, where to write the new one."),
    refresh: bool = typer.Option(False, "--refresh", help="Rebuild the snapshot from the AWS Price List API "
                                 "(pricing:GetProducts) with your credentials, write it to --prices, then estimate."),
    profile: str | None = typer.Option(None, "--profile", help="AWS profile for --refresh."),
    what_if: Path | None = typer.Option(None, "--what-if", help="A YAML file of org.yaml settings to price on top of "
                                        "org.yaml, without editing it (mappings merge, lists and values replace)."),
    fail_over: float | None = typer.Option(None, "--fail-over", help="Exit 1 when the monthly total exceeds this (USD)."),
    fail_over_optimization: float | None = typer.Option(
        None, "--fail-over-per-optimization", help="Exit 1 when one optimization costs more than this (USD)."),
) -> None:
    """Estimate the monthly cost of everything Charter synthesizes, and the cost of one optimization.

    Prices every resource of the landing zone and of every optimizer environment, per account
    and region its stack or StackSet reaches, from a pinned snapshot of AWS list prices and the
    usage assumptions in org.yaml's `cost:` section. Each line shows the resource, the price
    dimension, the unit price, the quantity and the assumption it rests on; a price the
    snapshot lacks is shown as unknown (never zero) and counted. The targets in
    `cost.targets` are checked; --fail-over / --fail-over-per-optimization make them gates.

    Example: `charter cost -c examples/small/org.yaml --fail-over 5000 --fail-over-per-optimization 10`
    """
    from charter.cost.estimate import estimate
    from charter.cost.prices import load
    from charter.cost.report import render_table, to_csv, to_json, to_markdown, usd
    from charter.errors import CharterError
    from charter.landing_zone.config import load_config
    from charter.landing_zone.synth import synthesize
    from charter.output import console, err_console, ok, warn

    cfg = load_config(config) if what_if is None else _with_what_if(config, what_if)
    known_envs = {a.environment for a in cfg.accounts} | {"management"}
    if env is not None and env not in known_envs:
        raise CharterError(f"--env {env}: no account of org.yaml has this environment",
                           hint="use one of: " + ", ".join(sorted(known_envs)))
    if refresh:
        book = _refresh(cfg, prices, profile)
    else:
        book = load(prices)
    with err_console.status("synthesizing and pricing the stacks"):
        lz = synthesize(cfg)
        stacks = [*lz, *_workloads(cfg, lz)]
        est = estimate(cfg, stacks, book, environment=env)
    title = f"{cfg.organization.name}" + (f" ({env})" if env else "")
    if output is Output.table and out is None:
        render_table(est, console, title)
    else:
        text = {Output.json: lambda: to_json(est), Output.csv: lambda: to_csv(est),
                Output.md: lambda: to_markdown(est, title), Output.table: lambda: to_markdown(est, title)}[output]()
        if out is None:
            typer.echo(text, nl=False)
        else:
            try:
                out.write_text(text, encoding="utf-8")
            except OSError as exc:
                raise CharterError(f"{out}: cannot write: {exc.strerror}", hint="choose a writable path with -o") from None
            ok(f"wrote {out}: {usd(est.total)} a month, {len(est.lines):,} lines, {len(est.unknown)} unknown")
    failed = []
    if est.unknown and (fail_over is not None or fail_over_optimization is not None):
        warn(f"{len(est.unknown)} line(s) have no price; the totals checked below leave them out")
    if fail_over is not None and est.total > fail_over:
        failed.append(f"monthly estimate {usd(est.total)} exceeds --fail-over {usd(fail_over)}")
    if fail_over_optimization is not None:
        for e in sorted(est.per_optimization):
            if est.optimization_total(e) > fail_over_optimization:
                failed.append(f"one optimization in {e} costs {usd(est.optimization_total(e))}, over "
                              f"--fail-over-per-optimization {usd(fail_over_optimization)}")
    for line in failed:
        err_console.print(f"[bold red]over budget:[/] {line}", soft_wrap=True)
    if failed:
        raise typer.Exit(1)


def _merge(base: Any, overlay: Any) -> Any:
    if isinstance(base, dict) and isinstance(overlay, dict):
        for key, value in overlay.items():
            base[key] = _merge(base[key], value) if key in base else value
        return base
    return overlay


def _with_what_if(config: Path, what_if: Path) -> Any:
    """org.yaml with the what-if file's settings on top, validated like org.yaml itself."""
    from charter.config.loader import dump_yaml, read_yaml
    from charter.errors import ConfigError, ConfigIssue
    from charter.landing_zone.config import load_config, load_config_text

    load_config(config)  # org.yaml's own problems point at org.yaml's lines
    try:
        base = read_yaml(config, config.read_text(encoding="utf-8"))
        text = what_if.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([ConfigIssue(str(what_if), 1, 1, "", f"cannot read file: {exc.strerror or exc}",
                                       "check the --what-if path")]) from None
    except UnicodeDecodeError:
        raise ConfigError([ConfigIssue(str(what_if), 1, 1, "", "not UTF-8 text", "save it as UTF-8")]) from None
    overlay = read_yaml(what_if, text)  # a YAML error is located in the what-if file
    if not isinstance(overlay, dict):
        raise ConfigError([ConfigIssue(str(what_if), 1, 1, "", "a what-if file is a mapping of org.yaml settings",
                                       "e.g. `baseline: {network: {nat_gateways: {dev: none}}}`")])
    merged = dump_yaml(_merge(base, overlay))
    # problems are reported against the merged document, named after both files
    return load_config_text(merged, f"{config}+{what_if}")


def _workloads(cfg: Any, lz: list[Any]) -> list[Any]:
    """Every optimizer environment's stacks, their budgets estimated over the same landing zone."""
    from charter.workloads.synth import environments, synthesize_workloads

    return [s for e in environments(cfg) for s in synthesize_workloads(cfg, e, landing_zone=lz)]


def _refresh(cfg: Any, prices: Path | None, profile: str | None) -> Any:
    from datetime import UTC, datetime

    from charter.aws import SessionFactory
    from charter.cost.prices import PriceBook, dump, load
    from charter.cost.refresh import PRICING_REGION, refresh
    from charter.errors import CharterError
    from charter.output import err_console, ok, warn

    if prices is None:
        raise CharterError("--refresh needs --prices FILE: where to write the new snapshot",
                           hint="e.g. `charter cost -c org.yaml --refresh --prices prices.json --profile billing`")
    regions = sorted({*cfg.organization.governed_regions, cfg.organization.home_region, "us-east-1"})
    base = load(prices if prices.exists() else None)
    client = SessionFactory(profile=profile, region=PRICING_REGION).client("pricing", region=PRICING_REGION)
    with err_console.status("reading the AWS Price List") as status:
        result = refresh(base.snapshot, client, regions, datetime.now(UTC).date().isoformat(),
                         progress=lambda msg: status.update(f"Price List: {msg}"))
    try:
        prices.write_text(dump(result.snapshot), encoding="utf-8")
    except OSError as exc:
        raise CharterError(f"{prices}: cannot write: {exc.strerror}", hint="choose a writable path with --prices") from None
    # on stderr, as the warning below: with --output json, stdout is the estimate's JSON document alone
    ok(f"wrote {prices}: {len(result.updated)} price(s) refreshed for {', '.join(regions)} in {result.queries} queries",
       stderr=True)
    if result.missing:
        warn(f"{len(result.missing)} key-region pair(s) not found in the Price List kept their earlier figure and date: "
             + ", ".join(f"{k}@{r}" for k, r in result.missing[:12]) + (" ..." if len(result.missing) > 12 else ""))
    return PriceBook(result.snapshot, str(prices))


def plan_cost_delta(cfg: Any, out_dir: Path) -> str:
    """One line for `charter plan`: the landing zone's monthly estimate and its change since the
    last deploy (recorded by `charter deploy` in out/.charter/cost-deployed.json)."""
    from charter.cost.estimate import estimate
    from charter.cost.outdir import delta, read_stacks, recorded
    from charter.cost.report import usd

    est = estimate(cfg, read_stacks(out_dir))
    change, stacks = delta(est, recorded(out_dir))
    unknown = f" ({len(est.unknown)} line(s) unpriced)" if est.unknown else ""
    if change is None:
        return f"cost: {usd(est.total)} a month for the landing zone{unknown}; no deploy recorded to compare with"
    sign = "+" if change >= 0 else "-"
    detail = ", ".join(f"{n} {'+' if d >= 0 else '-'}{usd(abs(d))}" for n, d in stacks[:5])
    return (f"cost: {usd(est.total)} a month for the landing zone{unknown}, {sign}{usd(abs(change))} since the last "
            f"deploy" + (f" ({detail})" if detail else ""))


def record_deployed_cost(cfg: Any, out_dir: Path) -> None:
    """After a deploy: remember the estimate of what is now deployed, for `charter plan`."""
    from charter.cost.estimate import estimate
    from charter.cost.outdir import read_stacks, record

    record(out_dir, estimate(cfg, read_stacks(out_dir)))


def register(app: typer.Typer) -> None:
    app.command("cost")(cost)
