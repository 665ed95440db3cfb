"""`charter controls`: the SOC 2 control matrix computed from a fresh synth and the catalog."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import typer

from charter.options import CONFIG, OUTPUT, OutputFormat
from charter.output import emit_json


class Format(StrEnum):
    md = "md"
    csv = "csv"
    json = "json"
    html = "html"


def controls(
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
) -> None:
    """Compute the SOC 2 control matrix (criterion -> controls -> resources -> evidence) from org.yaml.

    Synthesizes the landing zone, reads the control ids every resource carries and joins
    them with the control catalog: each control is implemented (with its resources), a gap
    (with the reason, e.g. a switched-off feature), attestation or inherited.

    Example: `charter controls -c examples/small/org.yaml --format html -o matrix.html`
    """
    from datetime import UTC, datetime

    from charter.controls.matrix import compute_matrix, render
    from charter.evidence.access_review.coverage import failing_from_state
    from charter.landing_zone.config import load_config
    from charter.output import ok
    from charter.workloads.synth import synthesize_all_workloads

    fail_statuses = _fail_on(fail_on)
    cfg = load_config(config)
    matrix = compute_matrix(cfg, extra_stacks=synthesize_all_workloads(cfg),
                            failing_controls=failing_from_state(reviews, datetime.now(UTC).date()))
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
               f"{s.criteria_automated} covered by implemented automated controls, {len(s.gaps)} gaps")
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


def register(app: typer.Typer) -> None:
    app.command("controls")(controls)
