"""`charter controls`: the SOC 2 control matrix computed from a fresh synth and the catalog,
joined with the latest evidence run of a store; `charter controls show ID`: one control, joined."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer

from charter.options import CONFIG, OUTPUT, OutputFormat
from charter.output import emit_json

# The callback's docstring is the group's help (with its example); `show` is the one subcommand.
app = typer.Typer(name="controls", no_args_is_help=False, invoke_without_command=True)


class Format(StrEnum):
    md = "md"
    csv = "csv"
    json = "json"
    html = "html"


class ShowFormat(StrEnum):
    text = "text"
    json = "json"


ConfigOpt = typer.Option(None, "-c", "--config", help="Path to org.yaml (default: ./org.yaml when it exists).")
StoreOpt = typer.Option(None, "--store", "-s",
                        help="An evidence store directory (e.g. the demo's): join each control's latest evidence.")


def _config(path: Path | None, *, required: bool) -> Any:
    from charter.landing_zone.config import load_config

    if path is None:
        path = Path("org.yaml")
        if not path.exists() and not required:
            return None
    return load_config(path)


def _evidence(store: str | None) -> dict[str, Any] | None:
    """control id -> EvidenceState of the latest run that holds evidence for it."""
    if store is None:
        return None
    from charter.controls.matrix import EvidenceState
    from charter.errors import CharterError
    from charter.evidence.dashboard import summarize
    from charter.evidence.store import EvidenceStore, open_backend

    if store.startswith("s3://"):
        raise CharterError(f"{store}: `charter controls --store` reads a local evidence store",
                           hint="browse an S3 store with `charter console --store s3://...`, "
                                "or `charter evidence export` it and read the package")
    summary = summarize(EvidenceStore(open_backend(store, must_exist=True)))
    return {cid: EvidenceState(status=s.status, reason=s.reason, run_id=s.run_id, as_of=s.as_of,
                               passed=s.passed, failed=s.failed)
            for cid, s in summary.controls.items()}


def _matrix(cfg: Any, reviews: Path, store: str | None) -> Any:
    from datetime import UTC, datetime

    from charter.controls.matrix import compute_matrix
    from charter.evidence.access_review.coverage import failing_from_state
    from charter.workloads.synth import synthesize_all_workloads

    return compute_matrix(cfg, extra_stacks=synthesize_all_workloads(cfg),
                          failing_controls=failing_from_state(reviews, datetime.now(UTC).date()),
                          evidence=_evidence(store))


@app.callback()
def controls(
    ctx: typer.Context,
    config: Path = CONFIG,
    fmt: Format = typer.Option(Format.md, "--format", "-f", help="Output format.", case_sensitive=False),
    out: Path | None = typer.Option(None, "-o", "--out", help="Write to this file instead of stdout."),
    runbooks: str = typer.Option("runbooks/", "--runbooks",
                                 help="HTML: where runbook names link to (`charter runbooks render -o` output, "
                                      "relative to the matrix file or a URL ending in /)."),
    reviews: Path = typer.Option(Path(".charter/access-reviews"), "--access-reviews",
                                 help="Access-review campaigns: a due quarter without a closed one fails IAM-09."),
    output: OutputFormat = OUTPUT,
    fail_on: str | None = typer.Option(None, "--fail-on", help="Exit 1 when a control has one of these statuses "
                                       "(comma separated: failing, gap), e.g. --fail-on failing,gap."),
    store: str | None = StoreOpt,
) -> None:
    """Compute the SOC 2 control matrix (criterion -> controls -> resources -> evidence) from org.yaml.

    Synthesizes the landing zone and the workloads, reads the control ids every resource
    carries and joins them with the control catalog and the registries (builders, Config
    rules, SCP guardrails, collector checks): each control is implemented (with its
    resources), a gap (with the reason, e.g. a switched-off feature), attestation or
    inherited. With --store, each control's latest evidence joins in: a control whose latest
    evidence fails is failing, never implemented.

    `charter controls show ID` prints one control joined (see `charter controls show --help`).

    Example: `charter controls -c examples/small/org.yaml --store charter-demo/evidence --format html -o matrix.html`
    """
    if ctx.invoked_subcommand is not None:
        return
    from charter.controls.matrix import render
    from charter.output import ok

    fail_statuses = _fail_on(fail_on)
    matrix = _matrix(_config(config, required=True), reviews, store)
    text = render(matrix, fmt.value, runbooks_href=runbooks if runbooks.endswith("/") else runbooks + "/")
    hit = sorted({c.id for _, c in matrix.rows() if c.status in fail_statuses})
    if output == OutputFormat.json:
        # the summary and each control's status (the whole matrix is --format json)
        statuses = {c.id: c.status for _, c in matrix.rows()}
        emit_json("controls", {"summary": matrix.summary.model_dump(mode="json"), "controls": statuses,
                               "fail_on": sorted(fail_statuses), "failed": hit})
        if out is None:
            if hit:
                raise typer.Exit(1)
            return
    if out is None:
        typer.echo(text, nl=False)
    else:
        from charter.options import write_text

        write_text(out, text)
        s = matrix.summary
        if output != OutputFormat.json:  # stdout is the JSON document alone
            ok(f"wrote {out}: {s.criteria_with_controls}/{s.criteria_total} criteria with controls, "
               f"{s.criteria_automated} covered by implemented automated controls, {len(s.gaps)} gaps, "
               f"{len(s.failing)} failing")
    if hit:
        from charter.output import err_console

        err_console.print(f"--fail-on {fail_on}: {len(hit)} control(s): {', '.join(hit)}", markup=False)
        raise typer.Exit(1)


#: --fail-on words -> the matrix's control statuses
_FAIL_ON = {"failing": "failing", "gap": "gap"}


def _fail_on(value: str | None) -> set[str]:
    if not value:
        return set()
    words = [w.strip() for w in value.split(",") if w.strip()]
    unknown = [w for w in words if w not in _FAIL_ON]
    if unknown:
        from charter.errors import UsageError

        raise UsageError(f"--fail-on {value}: unknown status {', '.join(unknown)}",
                         hint="use failing, gap or failing,gap")
    return {_FAIL_ON[w] for w in words}


@app.command("show")
def show(
    control_id: str = typer.Argument(..., metavar="ID", help="A control id, e.g. IAM-03."),
    config: Path | None = ConfigOpt,
    store: str | None = StoreOpt,
    reviews: Path = typer.Option(Path(".charter/access-reviews"), "--access-reviews",
                                 help="Access-review campaigns: a due quarter without a closed one fails IAM-09."),
    fmt: ShowFormat = typer.Option(ShowFormat.text, "--format", "-f", help="text or json.", case_sensitive=False),
) -> None:
    """One control, joined: criteria, builders and their resources, Config rules, SCP statements,
    collector checks, runbook and (with --store) its latest evidence status.

    Without a config only what the catalog and the code declare is shown; with -c (or an
    ./org.yaml) also the resources synth emits for it, its SCP statements and its status.

    Example: `charter controls show IAM-03 -c examples/small/org.yaml --store charter-demo/evidence`
    """
    from charter.controls.catalog import default_catalog
    from charter.controls.links import default_links

    catalog = default_catalog()
    control = catalog.get(control_id.strip().upper())
    links = default_links().get(control.id)
    cfg = _config(config, required=config is not None)
    view: dict[str, Any] = {
        "id": control.id, "title": control.title, "kind": control.kind, "description": control.description,
        "criteria": [{"id": c, "title": catalog.criteria[c].title} for c in control.criteria],
        "frequency": control.frequency, "owner": control.owner, "runbook": control.runbook,
        "requires": list(control.requires), "test_procedure": control.test_procedure,
        "population": control.population, "evidence_notes": control.evidence_notes,
        "inherited_from": control.inherited_from,
        "builders": links.builders, "evaluated_by": links.evaluated_by, "tooling": links.tooling,
        "config_rules": links.config_rules, "scp_guardrails": links.scp_guardrails,
        "security_hub": links.security_hub, "collector_checks": [str(c) for c in links.checks],
    }
    if cfg is not None:
        from charter.landing_zone.scp.packing import collect_statements

        view["scp_statements"] = [{"sid": s.sid, "targets": list(s.targets)}
                                  for s in collect_statements(cfg) if s.control == control.id]
        st = _matrix(cfg, reviews, store).controls[control.id]
        view.update(status=st.status, reason=st.reason,
                    resources=[{"resource": str(r), "type": r.type, "builder": r.builder} for r in st.resources])
        if store is not None:
            view["latest_evidence"] = st.latest_evidence.model_dump(mode="json") if st.latest_evidence else None
    elif store is not None:
        state = (_evidence(store) or {}).get(control.id)
        view["latest_evidence"] = state.model_dump(mode="json") if state else None
    if fmt == ShowFormat.json:
        typer.echo(json.dumps(view, indent=2))
        return
    _print(view)


def _print(v: dict[str, Any]) -> None:
    from rich.markup import escape

    from charter.output import console

    def line(label: str, value: str) -> None:
        console.print(f"[bold]{label:<17}[/]{escape(value)}", soft_wrap=True)

    console.print(f"[bold]{v['id']}[/]  {escape(v['title'])}", soft_wrap=True)
    line("kind", f"{v['kind']}, {v['frequency']}, owned by {v['owner']}")
    line("criteria", "; ".join(f"{c['id']} {c['title']}" for c in v["criteria"]))
    line("description", v["description"])
    if "status" in v:
        line("status", v["status"] + (f" ({v['reason']})" if v["reason"] else ""))
    if v["requires"]:
        line("requires", ", ".join(v["requires"]))
    line("builders", ", ".join(v["builders"]) or "-")
    if v["evaluated_by"]:
        line("checked by", ", ".join(v["evaluated_by"]) + " (evaluates, does not implement)")
    if "resources" in v:
        res = v["resources"]
        line("resources", f"{len(res)}" + (": " + ", ".join(r["resource"] for r in res[:8]) if res else "")
             + (" …" if len(res) > 8 else ""))
    if v["tooling"]:
        line("tooling", ", ".join(v["tooling"]))
    line("Config rules", ", ".join(v["config_rules"]) or "-")
    scp = ", ".join(v["scp_guardrails"]) or "-"
    if v.get("scp_statements"):
        scp += "; statements: " + ", ".join(f"{s['sid']} -> {', '.join(s['targets'])}" for s in v["scp_statements"])
    line("SCP", scp)
    if v["security_hub"]:
        line("Security Hub", ", ".join(v["security_hub"]))
    line("collector checks", ", ".join(v["collector_checks"]) or "-")
    if v["evidence_notes"]:
        line("other evidence", v["evidence_notes"])
    line("runbook", v["runbook"] or "-")
    if v["inherited_from"]:
        line("inherited from", v["inherited_from"])
    line("test procedure", v["test_procedure"])
    line("population", v["population"])
    if "latest_evidence" in v:
        ev = v["latest_evidence"]
        line("latest evidence", "none in the store" if ev is None else
             f"{ev['status']}" + (f" ({ev['reason']})" if ev["reason"] else "")
             + (f", run {ev['run_id']}" if ev["run_id"] else "") + (f", {ev['as_of']}" if ev["as_of"] else ""))


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="controls")
