"""The console in a real browser (headless Chromium driven by Playwright), both faces.

Optimizations: the local API server on the embedded AWS (the same server `charter workload
serve --local` runs) with market data ingested; sign in with the local identity, build a
job in the schema-driven form with a non-default objective, follow its live progress over
the WebSocket (and through a dropped connection), see SUCCEEDED and the weights chart.
Compliance: `charter console`'s server on a demo-like evidence store (two sealed runs of
collector-shaped artifacts with failures and a gap, and a closed access-review campaign);
drill down from a failing criterion to the failing artifact's reasons.

Every page is watched: a console error, an uncaught exception or a request to any host but
this machine fails the test (requests elsewhere are aborted, never sent). axe-core (bundled
by axe-playwright-python, offline) finds no serious or critical violation on either face.
Screenshots land in tests/artifacts/screenshots/ (gitignored) for a person to look at.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

pytest.importorskip("playwright")
from playwright.sync_api import Browser, Page, expect, sync_playwright  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "evidence"))
from handlers_testkit import SETTINGS, ingest_prices, settings_env  # noqa: E402

from charter.workloads.console_site import ConsoleServer, ConsoleSite  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[1] / "artifacts" / "screenshots"
ASSETS = ["A000", "A001", "A002", "A003", "A004", "A005"]
LOCAL_HOSTS = {"127.0.0.1", "localhost"}
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]

pytestmark = [pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Chromium at /usr/bin/chromium"),
              pytest.mark.e2e, pytest.mark.slow]  # the API on the embedded AWS, driven in a browser
# the machine may be busy (a parallel suite on 2 cores): waiting for the page is not what is tested
expect.set_options(timeout=30_000)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        try:
            yield b
        finally:
            b.close()


class Watch:
    """What a page did that it must not: console errors, uncaught errors, requests elsewhere."""

    def __init__(self, page: Page, allow_fulfilled: set[str] | None = None) -> None:
        self.errors: list[str] = []
        self.external: list[str] = []
        page.on("console", lambda m: self.errors.append(f"console.{m.type}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))

        def route(r: Any) -> None:
            host = urlsplit(r.request.url).hostname or ""
            if host in LOCAL_HOSTS or r.request.url.startswith(("data:", "blob:")):
                r.continue_()
            else:
                self.external.append(r.request.url)
                r.abort()

        page.route("**/*", route)

    def check(self) -> None:
        assert not self.external, f"requests to external hosts: {self.external}"
        assert not self.errors, f"errors in the page: {self.errors}"


def _page(browser: Browser) -> tuple[Page, Watch]:
    page = browser.new_page(viewport={"width": 1360, "height": 1000})
    return page, Watch(page)


def _axe(page: Page) -> None:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    bad = [f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
           for v in results.response["violations"] if v["impact"] in ("serious", "critical")]
    assert not bad, "accessibility violations:\n" + "\n".join(bad)


def _shot(page: Page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def _sign_in(page: Page, url: str, name: str) -> None:
    page.goto(url)
    expect(page.get_by_test_id("local-identity-note")).to_contain_text("Local identity")
    page.get_by_label("Local identity").fill(name)
    page.get_by_role("button", name="Sign in locally").click()
    expect(page.get_by_test_id("identity")).to_contain_text(name)
    expect(page.get_by_test_id("identity")).to_contain_text("local identity")


# -- the optimizations face ------------------------------------------------------------------

@pytest.fixture(scope="module")
def api_server() -> Iterator[Any]:
    from charter.local import LocalAws
    from charter.workloads.handlers import aws
    from charter.workloads.server import LocalApiServer

    with pytest.MonkeyPatch.context() as mp, LocalAws() as moto:
        for k, v in {**settings_env(), **moto.env()}.items():
            mp.setenv(k, v)
        aws.reset()
        server = LocalApiServer(SETTINGS, console=ConsoleSite(optimizer=True, title="test")).start()
        try:
            assert ingest_prices(n_assets=len(ASSETS), n_days=400)["validated"] == 1
            yield server
        finally:
            server.stop()
            aws.reset()


def _fill_job(page: Page, objective: str, max_weight: str, trials: str) -> None:
    form = page.locator("form.job-form")
    expect(form).to_be_visible()
    page.locator("#f-assets").fill(", ".join(ASSETS))
    page.locator("#f-objective").select_option(objective)
    page.locator("#f-horizon_days").fill("150")
    page.locator("#f-constraints-max_weight").fill(max_weight)
    page.locator("#f-backtest-lookback").fill("60")
    page.locator("#f-search-enabled").check()
    page.locator("#f-search-n_trials").fill(trials)
    page.locator("#f-search-lookback_min").fill("30")
    page.locator("#f-search-lookback_max").fill("90")


@pytest.mark.e2e  # the API on the embedded AWS
def test_optimizations_face_submit_follow_and_read_results(browser: Browser, api_server: Any) -> None:
    page, watch = _page(browser)
    try:
        _sign_in(page, api_server.url + "/", "alice")
        # the form is the API's schema: every objective the API accepts is offered (the form
        # appears once the console has read /openapi.json, after sign-in: wait for it)
        expect(page.locator("#f-objective")).to_be_visible()
        options = page.locator("#f-objective option").evaluate_all("els => els.map(e => e.value)")
        doc = json.loads(page.request.get(api_server.url + "/openapi.json").text())
        assert options == doc["components"]["schemas"]["OptimizeRequest"]["properties"]["objective"]["enum"]
        expect(page.get_by_test_id("socket-state").or_(page.locator("form.job-form"))).to_be_visible()
        _axe(page)
        _shot(page, "optimizations-form")

        _fill_job(page, "risk_parity", "0.4", "9")
        page.get_by_role("button", name="Run optimization").click()
        page.wait_for_url("**/#/jobs/*")
        job_id = page.url.rsplit("/", 1)[1]
        # at least one live update over the WebSocket (the list records pushed messages only)
        expect(page.get_by_test_id("updates").locator("li").first).to_be_visible(timeout=60_000)
        expect(page.get_by_test_id("job-status")).to_have_text("SUCCEEDED", timeout=120_000)
        updates = page.get_by_test_id("updates").locator("li").all_inner_texts()
        assert updates and any("RUNNING" in u or "SUCCEEDED" in u for u in updates), updates
        expect(page.get_by_test_id("trials")).to_contain_text("of")
        expect(page.get_by_test_id("best-score")).not_to_have_text("–")

        chart = page.locator('svg[data-chart="weights"]')
        expect(chart).to_be_visible(timeout=30_000)
        assert chart.locator("rect.bar").count() == len(ASSETS)
        rows = page.get_by_test_id("weights-table").locator("tbody tr")
        expect(rows).to_have_count(len(ASSETS))
        weights = [float(t.rstrip("%")) / 100 for t in rows.locator("td:nth-child(2)").all_inner_texts()]
        assert abs(sum(weights) - 1) < 0.001 and max(weights) <= 0.4 + 1e-4
        # metrics are percentages; the backtest is drawn; the frontier is there (not degenerate here)
        assert page.locator('[data-metric="volatility"]').first.inner_text().endswith("%")
        expect(page.locator('svg[data-chart="equity"]')).to_be_visible()
        expect(page.locator('svg[data-chart="drawdown"]')).to_be_visible()
        expect(page.locator('svg[data-chart="frontier"]')).to_be_visible()
        href = page.get_by_role("link", name="Download all results (JSON)").get_attribute("href") or ""
        assert f"results/{job_id}/full.json" in href and urlsplit(href).hostname in LOCAL_HOSTS
        _axe(page)
        _shot(page, "optimizations-results")

        # the jobs list, paged, has the job
        page.goto(api_server.url + "/#/optimize")
        expect(page.locator(f'a[href="#/jobs/{job_id}"]')).to_be_visible()
        watch.check()
    finally:
        page.close()


@pytest.mark.e2e  # the API on the embedded AWS
def test_progress_survives_a_dropped_websocket(browser: Browser, api_server: Any) -> None:
    page, watch = _page(browser)
    try:
        _sign_in(page, api_server.url + "/", "bob")
        _fill_job(page, "max_sharpe", "0.5", "12")
        page.get_by_role("button", name="Run optimization").click()
        page.wait_for_url("**/#/jobs/*")
        expect(page.get_by_test_id("socket-state")).to_have_text("live updates connected", timeout=30_000)
        # the server drops every connection, as API Gateway does after 2 hours or on a deploy
        asyncio.run_coroutine_threadsafe(api_server._ws.close_all(), api_server._loop).result(10)
        expect(page.get_by_test_id("socket-state")).to_have_text("reconnecting…", timeout=10_000)
        expect(page.get_by_test_id("socket-state")).to_have_text("live updates connected", timeout=30_000)
        expect(page.get_by_test_id("job-status")).to_have_text("SUCCEEDED", timeout=120_000)
        expect(page.locator('svg[data-chart="weights"]')).to_be_visible(timeout=30_000)
        watch.check()
    finally:
        page.close()


@pytest.mark.e2e  # the API on the embedded AWS
def test_the_api_schema_messages_show_at_the_field(browser: Browser, api_server: Any) -> None:
    page, watch = _page(browser)
    try:
        _sign_in(page, api_server.url + "/", "carol")
        expect(page.locator("form.job-form")).to_be_visible()
        # bounds from the schema are checked before sending
        page.locator("#f-assets").fill("A000, A001")
        page.locator("#f-constraints-max_weight").fill("1.5")
        page.get_by_role("button", name="Run optimization").click()
        expect(page.locator("#f-constraints-max_weight-err")).to_have_text("must be at most 1")
        # cross-field rules come back from the API, at the field they name
        page.locator("#f-constraints-max_weight").fill("0.2")
        page.get_by_role("button", name="Run optimization").click()
        expect(page.locator("#f-constraints-max_weight-err")).to_contain_text("cannot be fully invested")
        expect(page.locator("#form-status")).to_contain_text("The API refused the job")
        assert page.url.endswith("#/optimize") or "#/jobs/" not in page.url
        # the console logs nothing for a 400: it is an answer, not an error of the page
        watch.errors = [e for e in watch.errors if "400 (Bad Request)" not in e]
        watch.check()
    finally:
        page.close()


# -- the compliance face ---------------------------------------------------------------------

def _demo_like_store(root: Path) -> Path:
    """Two sealed collection runs of collector-shaped artifacts (failures and a gap, the second
    run a day later with fewer failures) and a closed access-review campaign."""
    from evstore_helpers import run_artifacts

    from charter.evidence.access_review.ledger import seal_campaign
    from charter.evidence.artifact import Artifact, PopulationItem
    from charter.evidence.manifest import Scope
    from charter.evidence.signing import LocalSigner
    from charter.evidence.store import EvidenceStore, LocalBackend

    store = EvidenceStore(LocalBackend(root / "evidence"))
    signer = LocalSigner.for_directory(root / "key")
    scope = Scope(organization="acme")
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
    store.write_run(run_artifacts(start, n=6), signer, scope)
    store.write_run(run_artifacts(start + timedelta(days=1), n=6), signer, scope)
    quarter = f"{start.year}Q{(start.month - 1) // 3 + 1}"
    common = dict(collector="access_review", controls=["IAM-09"], criteria=["CC6.2", "CC6.3"],
                  account_id="organization", account_name=f"access review {quarter}", region="us-east-1",
                  caller_arn="arn:aws:sts::111111111111:assumed-role/CharterDeployRole/demo", charter_version="0.1.0")
    snapshot = Artifact(kind="evidence", collected_at=start, population=[
        PopulationItem(id=f"111111111111/user/u{i}/policy/ReadOnly", control="IAM-09", result="not_applicable",
                       reason="under review", attributes={"reviewer": r}) for i, r in
        enumerate(["lead@acme.example"] * 3 + ["ops@acme.example"] * 2)],
        raw={"quarter": quarter, "campaign_id": f"acme-{quarter}"}, **common)
    report = Artifact(kind="campaign", collected_at=start + timedelta(hours=3), population=[
        PopulationItem(id="111111111111/u4/policy/Admin", control="IAM-09", result="pass",
                       reason="revocation verified by re-snapshot")],
        raw={"quarter": quarter, "campaign_id": f"acme-{quarter}", "started_at": start.isoformat(),
             "reviewers": [{"reviewer": "lead@acme.example", "rows": 3, "recorded_at": start.isoformat()},
                           {"reviewer": "ops@acme.example", "rows": 2, "recorded_at": start.isoformat()}],
             "revocations": [{"reviewer": "ops@acme.example", "verified": True}], "exceptions": []}, **common)
    seal_campaign(store, [snapshot, report], signer, Scope(organization="acme", collectors=["access_review"]))
    return root / "evidence"


@pytest.fixture(scope="module")
def console_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleServer]:
    from charter.commands.console import EvidenceCompliance, open_store

    store = _demo_like_store(tmp_path_factory.mktemp("store"))
    site = ConsoleSite(optimizer=False, compliance=EvidenceCompliance(open_store(str(store))), title="acme")
    with ConsoleServer(site) as server:
        yield server


def test_compliance_face_drills_down_from_a_failing_criterion_to_its_artifact(
        browser: Browser, console_server: ConsoleServer) -> None:
    page, watch = _page(browser)
    try:
        _sign_in(page, console_server.url + "/#/compliance", "auditor")
        table = page.get_by_test_id("criteria-table")
        expect(table.locator("tbody tr")).to_have_count(61, timeout=90_000)  # the first summary verifies the store
        expect(page.get_by_test_id("verification")).to_contain_text("intact")
        expect(page.locator('svg[data-chart="coverage"]')).to_be_visible()
        expect(page.locator('svg[data-chart="trend"] path.trend.passing')).to_have_count(1)
        assert int(page.locator('[data-count="failing"]').inner_text()) > 0
        _axe(page)
        _shot(page, "compliance-overview")

        failing = table.locator("tbody tr").filter(has=page.locator('[data-status="failing"]')).first
        criterion = failing.get_attribute("data-criterion")
        failing.locator("th a").click()
        expect(page).to_have_url(f"{console_server.url}/#/compliance/criteria/{criterion}")
        control_row = page.get_by_test_id("controls-table").locator("tbody tr").filter(
            has=page.locator('[data-status="failing"]')).first
        control = control_row.get_attribute("data-control")
        control_row.locator("th a").click()
        evidence = page.get_by_test_id("evidence-table")
        expect(evidence).to_be_visible()
        first = evidence.locator("tbody tr.row-fail").first
        account_region = first.locator("td").nth(0).inner_text(), first.locator("td").nth(1).inner_text()
        first.get_by_role("link").click()
        facts = page.get_by_test_id("artifact-facts")
        expect(facts).to_contain_text("intact: SHA-256 matches manifest")
        rows = page.get_by_test_id("population-table").locator("tbody tr.row-fail")
        expect(rows.first).to_be_visible()
        assert control in rows.first.inner_text()
        assert rows.first.locator("[data-reason]").inner_text().strip()
        assert account_region[1] in page.locator("h2.sub").inner_text()
        _axe(page)
        _shot(page, "compliance-artifact")

        page.get_by_role("link", name="Access reviews").click()
        campaign = page.locator("section.campaign").first
        expect(campaign).to_contain_text("closed")
        expect(campaign.locator("tbody tr")).to_have_count(2)
        expect(campaign).to_contain_text("1 of 1")
        _axe(page)
        _shot(page, "compliance-access-reviews")
        watch.check()
    finally:
        page.close()


# -- on AWS: Cognito hosted UI with PKCE, and RUM reporting -----------------------------------

POOL_DOMAIN = "https://acme-dev-optimizer-111111111111.auth.us-east-1.amazoncognito.com"
RUM = {"app_monitor_id": "0f8e3a39-3f35-4c59-9a8c-5e0c3d6f0a11", "identity_pool_id": "us-east-1:11111111-2222-3333-4444-555555555555",
       "guest_role_arn": "arn:aws:iam::111111111111:role/acme-rum", "region": "us-east-1", "sample_rate": 1.0,
       "user_pool_provider": "cognito-idp.us-east-1.amazonaws.com/us-east-1_AbCdEf123", "flush_seconds": 1}


class _AwsSite(ConsoleSite):
    """The console with the config `workloads.deploy.console_config` writes on AWS, and
    CloudFront's Content-Security-Policy (the edge stack's)."""

    def config(self) -> dict[str, Any]:
        return {"mode": "aws", "title": "acme dev",
                "identity": {"kind": "cognito", "domain": POOL_DOMAIN, "client_id": "4abcdefghij1234567890klmno",
                             "user_pool_id": "us-east-1_AbCdEf123"},
                "api": {"base": "", "optimizer": False, "compliance": False, "websocket": None, "key": None},
                "rum": RUM}


def _jwt(claims: dict[str, Any]) -> str:
    import base64

    def part(d: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(d).encode()).decode().rstrip("=")

    return f"{part({'alg': 'RS256', 'kid': 'k'})}.{part(claims)}.c2ln"


def test_cognito_pkce_sign_in_and_signed_rum_events(browser: Browser) -> None:
    """Sign-in goes to the hosted UI with an S256 challenge and comes back with a code the app
    exchanges with its verifier; RUM then reports with the user's identity-pool credentials,
    SigV4-signed exactly as botocore signs (checked by re-signing the captured request).
    Every AWS endpoint is answered by the test inside the browser: nothing leaves the machine."""
    import base64
    import hashlib
    from urllib.parse import parse_qs

    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    from charter.workloads.stacks.edge import CONTENT_SECURITY_POLICY

    site = _AwsSite(optimizer=False, csp=CONTENT_SECURITY_POLICY)
    seen: dict[str, Any] = {}
    id_token = _jwt({"sub": "u-1", "email": "pm@acme.example", "cognito:groups": ["portfolio-managers"],
                     "token_use": "id"})
    creds = Credentials("ASIAEXAMPLEKEY0000001", "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0MDAw", "FwoGZXIvYXdzEXAMPLE")
    with ConsoleServer(site) as server:
        page, watch = _page(browser)
        try:
            def authorize(route: Any) -> None:
                q = parse_qs(urlsplit(route.request.url).query)
                seen["authorize"] = q
                route.fulfill(status=302, headers={"Location": f"{server.url}/?code=the-code&state={q['state'][0]}"})

            def token(route: Any) -> None:
                seen["token"] = parse_qs(route.request.post_data or "")
                route.fulfill(status=200, content_type="application/json", headers={"Access-Control-Allow-Origin": "*"},
                              body=json.dumps({"id_token": id_token, "access_token": "a", "refresh_token": "r",
                                               "expires_in": 3600, "token_type": "Bearer"}))

            def identity(route: Any) -> None:
                target = route.request.headers.get("x-amz-target", "")
                body = json.loads(route.request.post_data or "{}")
                seen.setdefault("identity", []).append((target, body))
                answer = {"IdentityId": "us-east-1:abcd"} if target.endswith("GetId") else {
                    "IdentityId": "us-east-1:abcd", "Token": "open-id-token"}
                route.fulfill(status=200, content_type="application/x-amz-json-1.1", body=json.dumps(answer),
                              headers={"Access-Control-Allow-Origin": "*"})

            def sts(route: Any) -> None:
                seen["sts"] = parse_qs(urlsplit(route.request.url).query)
                route.fulfill(status=200, content_type="text/xml", headers={"Access-Control-Allow-Origin": "*"}, body=(
                    "<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult><Credentials>"
                    f"<AccessKeyId>{creds.access_key}</AccessKeyId><SecretAccessKey>{creds.secret_key}</SecretAccessKey>"
                    f"<SessionToken>{creds.token}</SessionToken><Expiration>2099-01-01T00:00:00Z</Expiration>"
                    "</Credentials></AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>"))

            def rum(route: Any) -> None:
                if route.request.method == "OPTIONS":  # CORS preflight of the signed POST
                    route.fulfill(status=200, headers={"Access-Control-Allow-Origin": "*",
                                                       "Access-Control-Allow-Headers": "*",
                                                       "Access-Control-Allow-Methods": "POST"})
                    return
                seen.setdefault("rum", []).append((route.request.url, route.request.headers, route.request.post_data))
                route.fulfill(status=200, body="{}", headers={"Access-Control-Allow-Origin": "*"})

            page.route(f"{POOL_DOMAIN}/oauth2/authorize*", authorize)
            page.route(f"{POOL_DOMAIN}/oauth2/token", token)
            page.route("https://cognito-identity.us-east-1.amazonaws.com/", identity)
            page.route("https://sts.us-east-1.amazonaws.com/*", sts)
            page.route("https://dataplane.rum.us-east-1.amazonaws.com/**", rum)

            page.goto(server.url + "/")
            page.get_by_role("button", name="Sign in with Cognito").click()
            expect(page.get_by_test_id("identity")).to_contain_text("pm@acme.example", timeout=15_000)
            expect(page.get_by_role("link", name="Compliance")).to_have_count(0)  # not in the compliance group

            q, t = seen["authorize"], seen["token"]
            assert q["response_type"] == ["code"] and q["code_challenge_method"] == ["S256"]
            assert q["redirect_uri"] == [server.url + "/"] and "openid" in q["scope"][0]
            verifier = t["code_verifier"][0]
            challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
            assert q["code_challenge"] == [challenge] and len(verifier) >= 43
            assert t["grant_type"] == ["authorization_code"] and t["code"] == ["the-code"]

            page.wait_for_function("() => window.__charterRum !== undefined", timeout=10_000)
            page.evaluate("() => window.__charterRum && window.__charterRum.flush()")
            deadline = 50
            while not seen.get("rum") and deadline:
                page.wait_for_timeout(200)
                deadline -= 1
            assert seen.get("rum"), f"no PutRumEvents request; saw {list(seen)}"
            logins = [b.get("Logins") for _, b in seen["identity"]]
            assert all(lg == {RUM["user_pool_provider"]: id_token} for lg in logins), logins
            assert seen["sts"]["RoleArn"] == [RUM["guest_role_arn"]]

            url, headers, body = seen["rum"][0]
            assert url == f"https://dataplane.rum.us-east-1.amazonaws.com/appmonitors/{RUM['app_monitor_id']}/"
            batch = json.loads(body)
            assert batch["AppMonitorDetails"]["id"] == RUM["app_monitor_id"]
            assert "com.amazon.rum.page_view_event" in {e["type"] for e in batch["RumEvents"]}
            request = AWSRequest(method="POST", url=url, data=body.encode(), headers={
                "content-type": headers["content-type"], "x-amz-date": headers["x-amz-date"],
                "x-amz-security-token": headers["x-amz-security-token"]})
            request.context["timestamp"] = headers["x-amz-date"]
            signer = SigV4Auth(creds, "rum", "us-east-1")
            expected = signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request)
            assert headers["authorization"].endswith(f"Signature={expected}"), (headers["authorization"], expected)
            assert "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token" in headers["authorization"]
            watch.check()
        finally:
            page.close()
