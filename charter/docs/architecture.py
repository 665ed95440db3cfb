"""The architecture diagram (SVG): the accounts Charter builds, the services in each, and how
logs and evidence flow between them, across the governed regions.

Laid out for a documentation page (1080 px wide, so it fits a 70rem column without
scaling): the management account and the three core accounts (log archive, security,
audit) on top, the workload accounts grouped by environment below, numbered flows
between them, and the regions along the bottom. What each box lists follows the config
(a switched-off service is not drawn) and the plan (which stacks reach which accounts).

Written as plain SVG rather than through graphviz because graphviz needs its `dot`
binary installed on the machine; this keeps `charter docs build` a pure-Python step.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from html import escape

from charter.config.model import WORKLOAD_ENVIRONMENTS, OrgConfig, format_minutes

WIDTH = 1080
MARGIN = 16
LINE = 15
#: Average width of a 11.5 px system-ui character, to keep text inside its box.
CHAR_W = 6.4
#: ... and of the 10 px italic account names
NAME_CHAR_W = 5.5
ENV_COLORS = {
    "management": "#e7f1ff", "log-archive": "#ecebf7", "security": "#dde9ff", "audit": "#efe6fb",
    "prod": "#fde2e4", "staging": "#fff3cd", "dev": "#dcf1e4", "shared": "#e8f4fb", "sandbox": "#f1f3f5",
}
FLOW_COLORS = {"deploy": "#0b5cad", "logs": "#6b4f00", "findings": "#b42318", "evidence": "#5b2a86"}
#: Workload accounts listed by name per environment before "+N more" (every account of the
#: examples is named: the diagram is also where a reader finds which environment an account is in).
MAX_NAMES = 40


@dataclass
class Box:
    key: str
    title: str
    subtitle: str
    lines: list[str]
    x: float = 0
    y: float = 0
    w: float = 0
    h: float = 0
    color: str = "#ffffff"
    names: list[str] = field(default_factory=list)
    #: lay items out in this many columns (the wide "every workload account" band)
    columns: int = 1

    def _room(self, char_w: float = CHAR_W) -> int:
        return max(int((self.w / self.columns - 24) / char_w), 10)

    def wrapped(self) -> list[tuple[str, str]]:
        """(kind, text): "name" lines, then "item"/"more" lines of each item, wrapped to fit."""
        out: list[tuple[str, str]] = []
        if self.names:
            out += [("name", t) for t in textwrap.wrap(", ".join(self.names), self._room(NAME_CHAR_W), break_on_hyphens=False,
                                                      break_long_words=False)]
        for line in self.lines:
            out += [("item" if i == 0 else "more", t) for i, t in enumerate(textwrap.wrap(line, self._room(), break_on_hyphens=False))]
        return out

    def height(self) -> float:
        lines = self.wrapped()
        per_column = -(-len(lines) // self.columns)
        return 44 + LINE * per_column + 8

    @property
    def cx(self) -> float:
        return self.x + self.w / 2

    @property
    def bottom(self) -> float:
        return self.y + self.h


def _fit(text: str, width: float) -> str:
    """Cut `text` to what fits `width` pixels, with an ellipsis (titles only; items wrap)."""
    room = int((width - 20) / CHAR_W)
    return text if len(text) <= room else text[: max(room - 1, 1)] + "…"


def _box_svg(b: Box) -> str:
    out = [f'<g class="account" data-key="{escape(b.key)}">',
           f'<rect x="{b.x:.0f}" y="{b.y:.0f}" width="{b.w:.0f}" height="{b.h:.0f}" rx="8" fill="{b.color}" '
           'stroke="#6c757d"/>',
           f'<text x="{b.x + 10:.0f}" y="{b.y + 19:.0f}" font-weight="700" font-size="13">{escape(_fit(b.title, b.w))}</text>',
           f'<text x="{b.x + 10:.0f}" y="{b.y + 35:.0f}" fill="#495057" font-size="11">{escape(_fit(b.subtitle, b.w))}</text>']
    lines = b.wrapped()
    per_column = -(-len(lines) // b.columns)
    for i, (kind, text) in enumerate(lines):
        col, row = divmod(i, per_column)
        x = b.x + 10 + col * b.w / b.columns
        y = b.y + 52 + row * LINE
        if kind == "name":
            out.append(f'<text x="{x:.0f}" y="{y:.0f}" font-size="10" font-style="italic">{escape(text)}</text>')
        else:
            out.append(f'<text x="{x + (0 if kind == "item" else 10):.0f}" y="{y:.0f}" font-size="11.5">'
                       f'{escape(("• " if kind == "item" else "") + text)}</text>')
    out.append("</g>")
    return "".join(out)


def _names(accounts: list, limit: int = MAX_NAMES) -> list[str]:
    names = sorted(a.name for a in accounts)
    return names if len(names) <= limit else [*names[:limit], f"+{len(names) - limit} more"]


def _services(cfg: OrgConfig) -> dict[str, list[str]]:
    b = cfg.baseline
    years = round(b.log_retention_days / 365.25)
    member = [s for s, on in (
        ("AWS Config recorder + SOC2 conformance pack", b.config.enabled and b.config.conformance_pack),
        ("AWS Config recorder", b.config.enabled and not b.config.conformance_pack),
        ("GuardDuty, Security Hub members", b.guardduty.enabled or b.security_hub.enabled),
        ("Inspector", b.inspector.enabled),
        ("CharterEvidenceReader role (read-only)", True),
    ) if on]
    workload = [s for s, on in (
        ("VPC + flow logs, interface endpoints", b.network.enabled),
        ("KMS key per environment (rotated)", True),
        (f"AWS Backup vault (Vault Lock){', copy to ' + cfg.dr_region if b.backup.copy_to_dr else ''}",
         b.backup.enabled),
    ) if on]
    standards = ", ".join(s.upper() for s in b.security_hub.standards)
    return {
        "management": [s for s, on in (
            ("AWS Organizations: OUs, SCP guardrails", True),
            ("CloudFormation StackSets (deploy)", True),
            ("IAM Identity Center: permission sets", b.identity.enabled),
            (f"Organization CloudTrail{' + Insights' if b.cloudtrail.insights else ''}", b.cloudtrail.enabled),
            (f"{cfg.scps.admin_role} (charter deploy)", True),
        ) if on],
        "log-archive": [s for s, on in (
            (f"S3 log bucket, Object Lock {years} years", True),
            ("CloudTrail logs from every account", b.cloudtrail.enabled),
            ("Config snapshots and history", b.config.enabled),
            ("VPC flow logs", b.network.enabled),
        ) if on],
        "security": [s for s, on in (
            ("GuardDuty delegated administrator", b.guardduty.enabled),
            (f"Security Hub ({standards})" if standards else "Security Hub", b.security_hub.enabled),
            ("IAM Access Analyzer (organization)", b.access_analyzer.enabled),
            ("Macie", b.macie.enabled),
            ("Alerting: EventBridge → SNS", True),
        ) if on],
        "audit": [
            f"Evidence collector (Lambda, {b.evidence_schedule})",
            "Evidence bucket: Object Lock, KMS",
            "KMS signing key (manifests, packages)",
            "Access-review campaigns",
        ],
        "member": member,
        "workload": workload,
    }


def _stack_count(account, plan_stacks: list) -> int:
    n = 0
    for stack in plan_stacks:
        d = stack.deployment
        if (d.kind == "stack" and d.account == account.name) or (d.kind == "stackset" and (
                account.name in d.target_accounts or account.ou in d.target_ous or "Root" in d.target_ous)):
            n += 1
    return n


def _arrow(x1: float, y1: float, x2: float, y2: float, kind: str, label: str) -> str:
    color = FLOW_COLORS[kind]
    mx, my = (x1 + x2) / 2, (y1 + y2) / 2
    return (f'<g class="flow" data-flow="{kind}"><path d="M{x1:.0f} {y1:.0f} L{x2:.0f} {y2:.0f}" stroke="{color}" '
            f'stroke-width="2" fill="none" marker-end="url(#arrow-{kind})"/>'
            f'<circle cx="{mx:.0f}" cy="{my:.0f}" r="9" fill="#fff" stroke="{color}"/>'
            f'<text x="{mx:.0f}" y="{my + 4:.0f}" text-anchor="middle" font-size="11" font-weight="700" '
            f'fill="{color}">{escape(label)}</text></g>')


def render_svg(cfg: OrgConfig, plan_stacks: list | None = None) -> str:
    plan_stacks = plan_stacks or []
    org = cfg.organization
    svc = _services(cfg)
    la, se, au = cfg.account("log-archive"), cfg.account("security"), cfg.account("audit")

    # -- top row: management and the core accounts -------------------------------------------
    top_y = 84
    col_w = (WIDTH - 2 * MARGIN - 3 * 14) / 4
    top = [
        Box("management", "Management account", f"{org.management_account_id or 'payer'} · home {org.home_region}",
            svc["management"], color=ENV_COLORS["management"]),
        Box("log-archive", f"Log archive: {la.name}", f"OU {la.ou} · central logs",
            svc["log-archive"], color=ENV_COLORS["log-archive"]),
        Box("security", f"Security: {se.name}", f"OU {se.ou} · delegated admin", svc["security"],
            color=ENV_COLORS["security"]),
        Box("audit", f"Audit: {au.name}", f"OU {au.ou} · evidence store", svc["audit"], color=ENV_COLORS["audit"]),
    ]
    for i, b in enumerate(top):
        b.x, b.y, b.w = MARGIN + i * (col_w + 14), top_y, col_w
    top_h = max(b.height() for b in top)  # after the widths: items wrap to them
    for b in top:
        b.h = top_h

    # -- workload row: one box per environment, then what every workload account runs ---------
    envs = [e for e in WORKLOAD_ENVIRONMENTS if cfg.accounts_in(e)]
    row_y = top_y + top_h + 96
    work: list[Box] = []
    n = max(len(envs), 1)
    w = (WIDTH - 2 * MARGIN - (n - 1) * 14) / n
    backup = cfg.baseline.backup
    for i, env in enumerate(envs):
        accts = cfg.accounts_in(env)
        stacks = max((_stack_count(a, plan_stacks) for a in accts), default=0)
        sub = f"{len(accts)} account{'s' if len(accts) != 1 else ''}" + (f" · {stacks} stacks each" if stacks else "")
        extra = [f"backups: RPO {format_minutes(backup.rpo_minutes(env))}, RTO {format_minutes(backup.rto_minutes(env))}"]
        box = Box(env, f"{env}", sub, extra, color=ENV_COLORS.get(env, "#ffffff"), names=_names(accts))
        box.x, box.y, box.w = MARGIN + i * (w + 14), row_y, w
        work.append(box)
    work_h = max((b.height() for b in work), default=60)
    for b in work:
        b.h = work_h
    band = Box("every-workload-account", "In every workload account, in every governed region",
               "the workload baseline StackSets", [*svc["workload"], *svc["member"]], color="#f8f9fa",
               columns=2)
    band.x, band.y, band.w = MARGIN, row_y + work_h + 10, WIDTH - 2 * MARGIN
    band.h = band.height()

    # -- flows: the workload accounts share one bus, so four arrows say it all ----------------------
    mgmt, log_box, sec_box, aud_box = top
    bus_y = row_y - 30
    left = min([mgmt.cx] + [b.cx for b in work])
    right = max([aud_box.cx] + [b.cx for b in work])
    flows = [f'<path d="M{left:.0f} {bus_y} H{right:.0f}" stroke="#8c959f" stroke-width="3" fill="none"/>']
    for b in work:
        flows.append(f'<path d="M{b.cx:.0f} {bus_y} V{b.y}" stroke="#8c959f" stroke-width="3" fill="none"/>')
    flows.append(_arrow(mgmt.cx, mgmt.bottom, mgmt.cx, bus_y - 2, "deploy", "1"))
    flows.append(_arrow(log_box.cx, bus_y, log_box.cx, log_box.bottom + 2, "logs", "2"))
    flows.append(_arrow(sec_box.cx, bus_y, sec_box.cx, sec_box.bottom + 2, "findings", "3"))
    flows.append(_arrow(aud_box.cx, aud_box.bottom, aud_box.cx, bus_y - 2, "evidence", "4"))
    label_x = (work[0].cx + work[1].cx) / 2 if len(work) > 1 else (work[0].cx + 80 if work else WIDTH / 2)
    flows.append(f'<text x="{label_x:.0f}" y="{bus_y + 16}" text-anchor="middle" font-size="11" fill="#57606a">'
                 'all workload accounts</text>')
    row_bottom = band.bottom

    # -- legend of the flows and the regions band --------------------------------------------------
    legend_y = row_bottom + 30
    b = cfg.baseline
    legend = [
        ("deploy", "1", f"charter deploy: Organizations, SCPs, and StackSets to every OU, in every governed region "
                        f"({cfg.scps.admin_role})"),
        ("logs", "2", f"CloudTrail (organization trail), Config and VPC flow logs → {la.name} "
                      f"(Object Lock, {b.log_retention_days} days)"),
        ("findings", "3", f"GuardDuty, Security Hub, Access Analyzer and Macie findings → {se.name} "
                          f"(aggregated in {org.home_region})"),
        ("evidence", "4", f"{au.name} collector assumes CharterEvidenceReader in every account and region; "
                          "signed, hash-chained evidence → Object Lock bucket → auditor package"),
    ]
    legend_svg = [f'<text x="{MARGIN}" y="{legend_y}" font-weight="700" font-size="13">Data flows</text>']
    for i, (kind, num, text) in enumerate(legend):
        y = legend_y + 20 + i * 20
        color = FLOW_COLORS[kind]
        legend_svg.append(f'<circle cx="{MARGIN + 9}" cy="{y - 4}" r="9" fill="#fff" stroke="{color}"/>'
                          f'<text x="{MARGIN + 9}" y="{y}" text-anchor="middle" font-size="11" font-weight="700" '
                          f'fill="{color}">{num}</text>'
                          f'<text x="{MARGIN + 26}" y="{y}" font-size="11.5">{escape(_fit(text, WIDTH - 60))}</text>')
    regions_y = legend_y + 20 + len(legend) * 20 + 16
    regions = org.governed_regions
    rw = min(220.0, (WIDTH - 2 * MARGIN - 130 - (len(regions) - 1) * 10) / max(len(regions), 1))
    region_svg = [f'<text x="{MARGIN}" y="{regions_y + 22}" font-weight="700" font-size="13">Regions</text>']
    for i, region in enumerate(regions):
        x = MARGIN + 80 + i * (rw + 10)
        roles = [r for r, on in (("home", region == org.home_region), ("DR", region == cfg.dr_region)) if on]
        label = region + (f" ({', '.join(roles)})" if roles else "")
        region_svg.append(f'<g class="region"><rect x="{x:.0f}" y="{regions_y + 6}" width="{rw:.0f}" height="26" rx="13" '
                          f'fill="{"#0b5cad" if region == org.home_region else "#ffffff"}" stroke="#0b5cad"/>'
                          f'<text x="{x + rw / 2:.0f}" y="{regions_y + 23}" text-anchor="middle" font-size="11.5" '
                          f'fill="{"#ffffff" if region == org.home_region else "#0b5cad"}">'
                          f'{escape(_fit(label, rw))}</text></g>')
    note_y = regions_y + 52
    note = ["Regional, in every governed region: Config, GuardDuty, Security Hub, VPC and flow logs, KMS, Backup, "
            "evidence collection.",
            "Global: Organizations, SCPs, IAM, Identity Center, the multi-region organization trail."]
    height = note_y + 16 * len(note) + 10
    title = (f"{org.name}: AWS landing zone · {len(cfg.accounts)} accounts in {len(cfg.ous)} OUs · "
             f"{len(regions)} governed regions")
    markers = "".join(
        f'<marker id="arrow-{k}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
        f'orient="auto-start-reverse"><path d="M0 0 L10 5 L0 10 z" fill="{c}"/></marker>'
        for k, c in FLOW_COLORS.items())
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height:.0f}" '
        f'viewBox="0 0 {WIDTH} {height:.0f}" font-family="system-ui, -apple-system, Segoe UI, sans-serif" '
        f'font-size="12" role="img" aria-label="{escape(title)}">'
        f'<title>{escape(title)}</title><defs>{markers}</defs>'
        f'<rect width="{WIDTH}" height="{height:.0f}" fill="#ffffff"/>'
        f'<text x="{MARGIN}" y="28" font-size="17" font-weight="700">{escape(_fit(title, WIDTH - 2 * MARGIN))}</text>'
        f'<text x="{MARGIN}" y="50" fill="#495057" font-size="12">Management account {escape(org.management_account_id or "(payer)")}; '
        f'home region {escape(org.home_region)}, disaster recovery in {escape(cfg.dr_region)}; '
        f'{len(plan_stacks)} stacks in the plan</text>'
        f'<text x="{MARGIN + 10 + col_w}" y="{top_y - 8}" font-size="11" fill="#495057">'
        f'Security OU: core accounts</text>'
        + "".join(flows) + "".join(_box_svg(b) for b in (*top, *work, band)) + "".join(legend_svg)
        + "".join(region_svg)
        + "".join(f'<text x="{MARGIN}" y="{note_y + 16 * i}" font-size="11" fill="#495057">'
                  f'{escape(_fit(line, WIDTH - 2 * MARGIN))}</text>' for i, line in enumerate(note))
        + "</svg>\n"
    )
