"""`charter workload deploy` from an empty workload account (issue #26, 3), on the embedded AWS.

One command goes from nothing to a working API: the registry stack (ECR) comes first, the
handlers and layer zips are uploaded under content-addressed keys once the code bucket
exists, and the image-based risk function waits for its first image. Pushing an image and
deploying with `--image-tag` then adds it; an `--image-tag` that was never pushed stops the
deploy before the stacks that run it.
"""

from __future__ import annotations

import hashlib
import json
import zipfile

import pytest

from charter.workloads.package import HANDLERS_ZIP, LAYER_ZIP, handlers_zip_bytes

ROLE = "OrganizationAccountAccessRole"
pytestmark = pytest.mark.e2e  # every test here deploys on the embedded AWS


@pytest.fixture(scope="module")
def aws():
    from charter.local import LocalAws

    with LocalAws() as server:
        yield server


@pytest.fixture(scope="module")
def first(aws, small_config, tmp_path_factory):
    from charter.workloads.deploy import deploy_workload

    out = tmp_path_factory.mktemp("first")
    result = deploy_workload(small_config, "dev", aws.sessions(), out, local=True)
    sessions = aws.sessions()
    dev = next(a["Id"] for a in sessions.client("organizations").list_accounts()["Accounts"] if a["Name"] == "dev")
    return result, sessions, dev, out


def client(first, service: str):
    _, sessions, dev, _ = first
    return sessions.client(service, account_id=dev, role_name=ROLE)


def params(first, stack: str) -> dict[str, str]:
    return {p["ParameterKey"]: p["ParameterValue"] for p in client(first, "cloudformation").describe_stacks(
        StackName=f"charter-optimizer-dev-{stack}")["Stacks"][0]["Parameters"]}


def test_the_first_deploy_needs_no_image_and_uploads_the_code(first):
    result, _, dev, _ = first
    assert result.ok, result.failures
    repos = {r["repositoryName"] for r in client(first, "ecr").describe_repositories()["repositories"]}
    assert repos == {f"acme-dev-optimizer-{r}" for r in ("risk", "processing", "search")}
    code = params(first, "compute")
    body = handlers_zip_bytes()
    assert code["CodeKey"] == f"code/{hashlib.sha256(body).hexdigest()[:16]}/{HANDLERS_ZIP}"
    assert code["LayerKey"].startswith("code/") and code["LayerKey"].endswith(LAYER_ZIP)
    bucket = f"acme-dev-optimizer-models-{dev}-us-east-1"
    s3 = client(first, "s3")
    assert s3.get_object(Bucket=bucket, Key=code["CodeKey"])["Body"].read() == body
    assert params(first, "secrets")["CodeKey"] == code["CodeKey"]
    # the image-based function waits for its image; every zip function is there
    assert code["ImageTag"] == "none"
    lam = client(first, "lambda")
    names = {f["FunctionName"] for f in lam.list_functions()["Functions"]}
    assert "acme-dev-optimizer-risk" not in names
    assert {"acme-dev-optimizer-submit", "acme-dev-optimizer-api-authorizer", "acme-dev-optimizer-status"} <= names
    assert any("no image yet" in n and "--image-tag" in n for n in result.notes)


def test_a_pushed_image_is_deployed_and_kept(first, small_config, tmp_path):
    from charter.workloads.deploy import deploy_workload

    _, sessions, _, out = first
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                           "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 7,
                                      "digest": "sha256:" + "a" * 64}, "layers": []})
    client(first, "ecr").put_image(repositoryName="acme-dev-optimizer-risk", imageManifest=manifest, imageTag="v1")
    result = deploy_workload(small_config, "dev", sessions, out, local=True, overrides={"ImageTag": "v1"})
    assert result.ok, result.failures
    assert params(first, "compute")["ImageTag"] == "v1"
    fn = client(first, "lambda").get_function(FunctionName="acme-dev-optimizer-risk")
    assert fn["Code"]["ImageUri"].endswith("/acme-dev-optimizer-risk:v1")
    # a later deploy without --image-tag (an operator's) keeps the image the stack runs
    again = deploy_workload(small_config, "dev", sessions, out, local=True)
    assert again.ok and params(first, "compute")["ImageTag"] == "v1"


def test_an_image_tag_never_pushed_stops_before_the_stacks_that_run_it(first, small_config):
    from charter.workloads.deploy import deploy_workload

    _, sessions, _, out = first
    result = deploy_workload(small_config, "dev", sessions, out, local=True, overrides={"ImageTag": "nope"})
    assert not result.ok
    assert any("acme-dev-optimizer-risk:nope is not in ECR" in f for f in result.failures)
    assert params(first, "compute")["ImageTag"] != "nope"


def test_the_pipelines_zips_are_uploaded_by_content(first, small_config, tmp_path):
    from charter.workloads.deploy import deploy_workload

    _, sessions, dev, out = first
    dist = tmp_path / "dist"
    dist.mkdir()
    (dist / HANDLERS_ZIP).write_bytes(handlers_zip_bytes())
    with zipfile.ZipFile(dist / LAYER_ZIP, "w") as zf:
        zf.writestr("python/vendor.py", "X = 1\n")
    result = deploy_workload(small_config, "dev", sessions, out, local=True, artifacts_dir=dist)
    assert result.ok, result.failures
    layer = params(first, "compute")["LayerKey"]
    assert layer == f"code/{hashlib.sha256((dist / LAYER_ZIP).read_bytes()).hexdigest()[:16]}/{LAYER_ZIP}"
    bucket = f"acme-dev-optimizer-models-{dev}-us-east-1"
    assert client(first, "s3").get_object(Bucket=bucket, Key=layer)["Body"].read() == (dist / LAYER_ZIP).read_bytes()


def test_only_the_registry(first, small_config, tmp_path):
    """What the pipeline runs before it pushes: the registry stack alone."""
    from charter.workloads.deploy import deploy_workload

    _, sessions, _, _ = first
    result = deploy_workload(small_config, "staging", sessions, tmp_path, local=True, stacks=["registry"])
    assert result.ok, result.failures
    assert [ps.name for ps in result.plan.stacks] == ["optimizer-staging-registry"]
