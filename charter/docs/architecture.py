"""An SVG diagram of the organization: the OU tree, the accounts, what each runs, the data flows.

Written as plain SVG rather than through graphviz because graphviz needs its `dot`
binary installed on the machine; this keeps `charter docs build` a pure-Python step.
"""

from __future__ import annotations

from html import escape

from charter.landing_zone.config.model import ROOT, OrgConfig

ENV_COLORS = {
    "prod": "#f8d7da", "staging": "#fff3cd", "dev": "#d1e7dd", "security": "#cfe2ff", "audit": "#e2d9f3",
    "log-archive": "#d3d3e8", "shared": "#e7f1ff", "sandbox": "#f1f3f5",
}
ROW = 26
INDENT = 28
BOX_W = 210


def _stacks_for(account, cfg: OrgConfig, plan_stacks: list) -> list[str]:
    """Names of the stacks that reach `account`, read from the plan's deployments."""
    ancestors, node = set(), account.ou
    parents = {ou.name: ou.parent for ou in cfg.ous}
    while node and node != ROOT and node not in ancestors:
        ancestors.add(node)
        node = parents.get(node, ROOT)
    ancestors.add(ROOT)
    names = []
    for stack in plan_stacks:
        d = stack.deployment
        if d.kind == "stack" and d.account == account.name:
            names.append(stack.name)
        elif d.kind == "stackset" and (account.name in d.target_accounts or ancestors & set(d.target_ous)):
            names.append(stack.name)
    return names


def render_svg(cfg: OrgConfig, plan_stacks: list | None = None) -> str:
    plan_stacks = plan_stacks or []
    children: dict[str, list[str]] = {}
    for ou in cfg.ous:
        children.setdefault(ou.parent, []).append(ou.name)
    accounts_in: dict[str, list] = {}
    for acct in cfg.accounts:
        accounts_in.setdefault(acct.ou, []).append(acct)

    items: list[str] = []
    lines: list[str] = []
    y = 70
    right_edge = 1100

    def node(name: str, depth: int, parent_xy: tuple[int, int] | None) -> None:
        nonlocal y, right_edge
        x = 20 + depth * INDENT
        my = y
        label = "Root" if name == ROOT else name
        items.append(f'<rect x="{x}" y="{my - 16}" width="{BOX_W}" height="22" rx="4" fill="#ffffff" stroke="#0b5cad"/>'
                     f'<text x="{x + 8}" y="{my}" font-weight="bold">{escape(label)}</text>')
        if parent_xy:
            px, py = parent_xy
            lines.append(f'<path d="M{px + 10} {py + 6} V{my - 5} H{x}" fill="none" stroke="#8aa4c8"/>')
        y += ROW
        for acct in sorted(accounts_in.get(name, []), key=lambda a: a.name):
            ax = x + INDENT
            color = ENV_COLORS.get(acct.environment, "#ffffff")
            stacks = ", ".join(_stacks_for(acct, cfg, plan_stacks))
            right_edge = max(right_edge, int(ax + BOX_W + 20 + 6.2 * len(stacks)))
            items.append(f'<rect x="{ax}" y="{y - 16}" width="{BOX_W}" height="22" rx="10" fill="{color}" stroke="#6c757d"/>'
                         f'<text x="{ax + 10}" y="{y}">{escape(acct.name)} · {escape(acct.environment)}</text>'
                         f'<text x="{ax + BOX_W + 10}" y="{y}" fill="#495057" font-size="11">{escape(stacks)}</text>')
            lines.append(f'<path d="M{x + 10} {my + 6} V{y - 5} H{ax}" fill="none" stroke="#c0c8d2"/>')
            y += ROW
        for child in sorted(children.get(name, [])):
            node(child, depth + 1, (x, my))

    node(ROOT, 0, None)
    flow_y = y + 30
    org = cfg.organization
    la, au, se = cfg.account("log-archive").name, cfg.account("audit").name, cfg.account("security").name
    flows = [
        ("every account, every governed region", f"{la}: CloudTrail, Config and flow logs (Object Lock)"),
        ("every account", f"{se}: GuardDuty, Security Hub, Access Analyzer, Macie findings ({org.home_region})"),
        (f"{au}: evidence collector", "every account: CharterEvidenceReader (read-only)"),
        (f"{au}: evidence collector", f"{au}: evidence bucket (Object Lock) + signed manifests"),
        ("management account: charter deploy", "Organizations, SCPs, StackSets to OUs"),
    ]
    flow_svg = [f'<text x="20" y="{flow_y}" font-weight="bold" font-size="15">Data flows</text>']
    for i, (src, dst) in enumerate(flows):
        fy = flow_y + 24 + i * ROW
        flow_svg.append(
            f'<text x="30" y="{fy}">{escape(src)}</text>'
            f'<path d="M330 {fy - 5} H380" stroke="#0b5cad" stroke-width="2" marker-end="url(#arrow)"/>'
            f'<text x="390" y="{fy}">{escape(dst)}</text>')
    height = flow_y + 24 + len(flows) * ROW + 20
    legend = "".join(
        f'<rect x="{20 + i * 105}" y="34" width="14" height="14" fill="{c}" stroke="#6c757d"/>'
        f'<text x="{38 + i * 105}" y="46" font-size="11">{escape(env)}</text>'
        for i, (env, c) in enumerate(ENV_COLORS.items()))
    width = right_edge
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        'font-family="system-ui, sans-serif" font-size="12">'
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" markerHeight="6" orient="auto">'
        '<path d="M0 0 L10 5 L0 10 z" fill="#0b5cad"/></marker></defs>'
        f'<text x="20" y="22" font-size="16" font-weight="bold">{escape(org.name)}: AWS Organization '
        f'({len(cfg.accounts)} accounts, regions {escape(", ".join(org.governed_regions))})</text>'
        + legend + "".join(lines) + "".join(items) + "".join(flow_svg) + "</svg>\n"
    )
