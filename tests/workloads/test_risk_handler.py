"""The portfolio risk Lambda (workloads/handlers/risk.py) through its entry point, as Lambda
calls it: a direct invocation, one that files the result under a job, and an API Gateway
proxy event; bad input answers with the field at fault, never a stack trace. The numbers
of `portfolio_risk` are checked against a hand computation on a short series."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from moto import mock_aws

sys.path.insert(0, str(Path(__file__).resolve().parent))
from handlers_testkit import SETTINGS, ingest_prices, proxy_event, settings_env  # noqa: E402

from charter.optimizer.errors import OptimizerError  # noqa: E402
from charter.workloads.handlers import aws, risk  # noqa: E402
from charter.workloads.handlers.jobs import JobStore  # noqa: E402
from charter.workloads.handlers.results import prefix  # noqa: E402
from charter.workloads.server import ensure_resources  # noqa: E402

WEIGHTS = {"A000": 0.7, "A001": 0.2, "A002": 0.1}


@pytest.fixture()
def cloud(monkeypatch: pytest.MonkeyPatch):
    for k, v in settings_env().items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    aws.reset()
    with mock_aws():
        ensure_resources(SETTINGS)
        assert ingest_prices(n_assets=4, n_days=260)["validated"] == 1
        yield
    aws.reset()


def test_direct_invocation_returns_the_risk_of_the_weights_on_the_latest_data(cloud) -> None:
    out = risk.handler({"weights": WEIGHTS, "confidence": 0.9, "lookback_days": 120})
    assert out["ok"] is True, out
    r = out["risk"]
    assert r["dataset"] and r["observations"] == 120 and r["confidence"] == 0.9
    assert r["cvar"] >= r["var"] > 0 and r["volatility"] > 0 and -1 <= r["max_drawdown"] <= 0
    assert r["largest_position"] == {"asset": "A000", "weight": 0.7}
    assert r["flags"] == ["concentration: A000 is 70.0% of the portfolio (limit 25%)"]
    assert set(r["risk_contributions"]) == set(WEIGHTS)
    assert sum(r["risk_contributions"].values()) == pytest.approx(1.0)  # shares of the variance
    json.dumps(r, allow_nan=False)  # what Lambda serializes: finite numbers only


def test_invocation_with_a_job_files_risk_json_and_summarizes_it_on_the_job(cloud) -> None:
    store = JobStore(SETTINGS)
    job = store.create("user-1", {"assets": list(WEIGHTS)})
    out = risk.handler({"weights": WEIGHTS, "job_id": job.job_id})
    assert out["ok"] is True, out
    saved = json.loads(aws.client("s3").get_object(Bucket=SETTINGS.results_bucket,
                                                   Key=f"{prefix(job.job_id)}risk.json")["Body"].read())
    assert saved == out["risk"]
    after = store.get(job.job_id)
    summary = {k: float(v) for k, v in after.extra["risk_summary"].items()}  # DynamoDB numbers
    assert summary == pytest.approx({k: out["risk"][k] for k in ("volatility", "var", "cvar", "max_drawdown")})
    assert after.version == job.version + 1


@pytest.mark.parametrize(("event", "error", "says"), [
    ({"weights": {}}, "validation", "weights"),
    ({"weights": WEIGHTS, "confidence": 2}, "validation", "confidence"),
    ({"weights": WEIGHTS, "lookback_days": 5}, "validation", "lookback_days"),
    ({"weights": WEIGHTS, "surprise": 1}, "validation", "surprise"),
    ({"weights": {"A000": 0.5, "ZZZZ": 0.5}}, "unprocessable", "ZZZZ"),
    ({"weights": WEIGHTS, "job_id": "0" * 32}, "unprocessable", "not found"),
])
def test_direct_invocation_with_bad_input_says_what_is_wrong(cloud, event, error, says) -> None:
    out = risk.handler(event)
    assert out["ok"] is False and out["error"] == error, out
    assert says in json.dumps(out)


def test_an_empty_direct_invocation_names_the_missing_weights(cloud) -> None:
    out = risk.handler({})
    assert out["ok"] is False and [f["field"] for f in out["fields"]] == ["weights"]


def test_api_gateway_event_answers_over_http(cloud) -> None:
    ok = risk.handler(proxy_event("POST", "/portfolio/risk", "/portfolio/risk", body={"weights": WEIGHTS}), None)
    assert ok["statusCode"] == 200 and ok["headers"]["Content-Type"] == "application/json"
    assert json.loads(ok["body"])["largest_position"]["asset"] == "A000"

    bad = risk.handler(proxy_event("POST", "/portfolio/risk", "/portfolio/risk",
                                   body={"weights": WEIGHTS, "confidence": 0.1}), None)
    assert bad["statusCode"] == 400
    assert [f["field"] for f in json.loads(bad["body"])["fields"]] == ["confidence"]

    for body in ("{not json", "[1, 2]"):
        refused = risk.handler(proxy_event("POST", "/portfolio/risk", "/portfolio/risk", body=body), None)
        assert refused["statusCode"] == 400 and json.loads(refused["body"])["fields"][0]["field"] == "body"

    unknown = risk.handler(proxy_event("POST", "/portfolio/risk", "/portfolio/risk",
                                       body={"weights": {"A000": 0.5, "ZZZZ": 0.5}}), None)
    assert unknown["statusCode"] == 422 and "ZZZZ" in json.loads(unknown["body"])["message"]


# -- the numbers, by hand ------------------------------------------------------------------------

#: 20 days of a portfolio: +1 % a day, except -5 % on day 10 and -3 % on day 12.
PORTFOLIO = np.array([0.01] * 9 + [-0.05, 0.01, -0.03] + [0.01] * 8)


def test_portfolio_risk_matches_a_hand_computation() -> None:
    # three assets that each return the portfolio's series; weights 0.8, -0.3, 0.5 add up to 1,
    # so the portfolio returns exactly PORTFOLIO
    weights = np.array([0.8, -0.3, 0.5])
    returns = np.repeat(PORTFOLIO[:, None], 3, axis=1)
    r = risk.portfolio_risk(returns, weights, ["X", "Y", "Z"], confidence=0.95)
    assert r["observations"] == 20
    # VaR at 95 %: the 5 % quantile of 20 sorted returns lies 0.95 of the way from the worst
    # (-5 %) to the second worst (-3 %); CVaR is the mean of the returns at or below it (-5 %)
    assert r["var"] == pytest.approx(-(-0.05 + 0.95 * (-0.03 - -0.05)))  # 3.1 %
    assert r["cvar"] == pytest.approx(0.05)
    # the peak after nine +1 % days loses 5 %, gains 1 %, loses 3 %: the trough, 6.9 % below it
    assert r["max_drawdown"] == pytest.approx(0.95 * 1.01 * 0.97 - 1)
    assert r["gross_exposure"] == pytest.approx(1.6) and r["net_exposure"] == pytest.approx(1.0)
    assert r["effective_assets"] == pytest.approx(1 / (0.64 + 0.09 + 0.25))
    assert r["largest_position"] == {"asset": "X", "weight": 0.8}
    # every position above 25 % either way is flagged, the short one too
    assert r["flags"] == ["concentration: X is 80.0% of the portfolio (limit 25%)",
                          "concentration: Y is -30.0% of the portfolio (limit 25%)",
                          "concentration: Z is 50.0% of the portfolio (limit 25%)"]


def test_portfolio_risk_refuses_too_little_data_and_mismatched_weights() -> None:
    with pytest.raises(OptimizerError, match="only 19 complete days"):
        risk.portfolio_risk(np.zeros((19, 2)), np.array([0.5, 0.5]), ["A", "B"])
    with pytest.raises(OptimizerError, match="3 weights for 2 return columns"):
        risk.portfolio_risk(np.zeros((30, 2)), np.array([0.3, 0.3, 0.4]), ["A", "B", "C"])
