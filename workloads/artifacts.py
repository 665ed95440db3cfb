"""What a workload deploy puts in place before the stacks that run it: code zips and images.

A first `charter workload deploy --profile P` starts from an empty account: the compute and
secrets stacks need the handlers zip and the shared layer in the environment's code bucket
(the model-artifacts bucket, made by the data stack), and the compute stack's risk manager
is a container image in ECR (the registry stack). Deploy resolves both when a stack first
needs them, so one command goes from nothing to a working API:

- code: the zips come from `--artifacts DIR` (the pipeline's build output), from keys
  already uploaded (`--code-key`/`--layer-key`, checked to exist), or are built here
  (`workloads.package`: the layer needs pip and PyPI; on the embedded AWS, whose Lambda
  runs Charter's handlers in-process, the layer is left empty). Each zip is uploaded under
  `code/<sha256 prefix>/<name>`, so the same build keeps the same key (no new function
  version) and a new build publishes one;
- image: `--image-tag` must name an image in the risk repository (an error before the
  compute stack otherwise); without it, the tag the compute stack already runs is kept while
  its image exists, and with none the image-based function is deferred (`DEFERRED_TAG`):
  the rest of the API deploys, and the note says how to push the first image.
"""

from __future__ import annotations

import hashlib
import io
import threading
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import botocore.exceptions

from charter.aws import error_code
from charter.errors import CharterError
from charter.landing_zone.deploy.context import PENDING
from charter.landing_zone.deploy.run import Change, Run
from charter.workloads.package import HANDLERS_ZIP, LAYER_ZIP
from charter.workloads.stacks._common import Ctx
from charter.workloads.stacks.registry import DEFERRED_TAG, repository_name

CODE_PREFIX = "code/"


class ArtifactError(CharterError):
    """A workload artifact the deploy needs is missing."""

    code = "CHARTER-711"
    fix = ("Build the zips with `charter workload package optimizer -o dist` and pass `--artifacts dist`, or "
           "push the image named by --image-tag to the environment's risk repository first.")


def _empty_layer() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        # a fixed timestamp: the same empty layer has the same content key (no new function version)
        zf.writestr(zipfile.ZipInfo("python/.keep", date_time=(1980, 1, 1, 0, 0, 0)), "")
    return buf.getvalue()


def content_key(name: str, body: bytes) -> str:
    return f"{CODE_PREFIX}{hashlib.sha256(body).hexdigest()[:16]}/{name}"


@dataclass
class Artifacts:
    """Resolved once per deploy, shared by every stack that needs it (waves run in threads)."""

    artifacts_dir: Path | None = None
    code: dict[str, str] | None = None
    image_tag: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # -- code ---------------------------------------------------------------------------------
    def code_keys(self, run: Run, account: str, bucket: str, given: dict[str, str]) -> dict[str, str]:
        """{"CodeKey", "LayerKey"} of zips that are in `bucket` (uploaded here if needed)."""
        with self._lock:
            if self.code is None:
                self.code = self._place_code(run, account, bucket, given)
            return dict(self.code)

    def _place_code(self, run: Run, account: str, bucket: str, given: dict[str, str]) -> dict[str, str]:
        s3 = run.client("s3", account_id=account)
        if "CodeKey" in given and "LayerKey" in given and self.artifacts_dir is None:
            for name in ("CodeKey", "LayerKey"):
                if not run.dry_run and not _exists(s3, bucket, given[name]):
                    raise ArtifactError(f"s3://{bucket}/{given[name]} ({name}) does not exist",
                                        hint="upload it first, or pass --artifacts DIR and let deploy upload")
            return {"CodeKey": given["CodeKey"], "LayerKey": given["LayerKey"]}
        if run.dry_run and self.artifacts_dir is None and not getattr(run, "local", False):
            # building the layer (pip) only to plan is too much: the plan keeps the keys the stacks
            # run, and a deploy publishes new versions only if the built zips differ
            run.mutate(Change("artifact", f"s3://{bucket}/{CODE_PREFIX}", "upload",
                              [f"{HANDLERS_ZIP} and {LAYER_ZIP} if the build differs (content-addressed keys)"]))
            return {}
        bodies = self._bodies(run)
        keys = {}
        for param, (name, body) in bodies.items():
            key = content_key(name, body)
            # a plan before the account exists has nothing to look in
            if account == PENDING or not _exists(s3, bucket, key):
                run.mutate(Change("artifact", f"s3://{bucket}/{key}", "upload", [f"{len(body):,} bytes"]),
                           s3.put_object, Bucket=bucket, Key=key, Body=body)
            keys[param] = key
        return keys

    def _bodies(self, run: Run) -> dict[str, tuple[str, bytes]]:
        if self.artifacts_dir is not None:
            out = {}
            for param, name in (("CodeKey", HANDLERS_ZIP), ("LayerKey", LAYER_ZIP)):
                path = self.artifacts_dir / name
                if not path.is_file():
                    raise ArtifactError(f"{path}: not found",
                                        hint=f"build it with `charter workload package optimizer -o {self.artifacts_dir}`")
                out[param] = (name, path.read_bytes())
            return out
        from charter.workloads.package import handlers_zip_bytes, package

        if getattr(run, "local", False):
            # the embedded AWS runs the handlers in-process with this interpreter's packages
            return {"CodeKey": (HANDLERS_ZIP, handlers_zip_bytes()), "LayerKey": (LAYER_ZIP, _empty_layer())}
        built = package(run.out_dir / "artifacts", progress=lambda msg: run.note(f"artifacts: {msg}"))
        return {"CodeKey": (HANDLERS_ZIP, built.handlers.path.read_bytes()),
                "LayerKey": (LAYER_ZIP, built.layer.path.read_bytes())}

    # -- images ---------------------------------------------------------------------------------
    def risk_image_tag(self, run: Run, ctx: Ctx, account: str, given: str | None, current: str | None) -> str:
        """The tag the image-based function runs: `given` (must exist), else `current` while its
        image exists, else DEFERRED_TAG."""
        with self._lock:
            if self.image_tag is None:
                self.image_tag = self._resolve_tag(run, ctx, account, given, current)
            return self.image_tag

    def _resolve_tag(self, run: Run, ctx: Ctx, account: str, given: str | None, current: str | None) -> str:
        repo = repository_name(ctx, "risk")
        ecr = run.client("ecr", region=ctx.region, account_id=account)
        if given:
            if not _has_image(ecr, repo, given):
                raise ArtifactError(f"image {repo}:{given} is not in ECR ({ctx.account}/{ctx.region})",
                                    hint="push it after deploying the registry stack "
                                         "(`charter workload deploy ... --stacks registry`), then deploy again")
            return given
        if current and current != DEFERRED_TAG and _has_image(ecr, repo, current):
            return current
        run.note(f"{repo}: no image yet, so the risk manager function is deferred; push one (docker build -f "
                 f"workloads/container/risk.Dockerfile ., docker push <account>.dkr.ecr.{ctx.region}.amazonaws.com/"
                 f"{repo}:<tag>) and deploy with --image-tag <tag>, as the pipeline does")
        return DEFERRED_TAG


def _exists(s3: Any, bucket: str, key: str) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=key)
        return True
    except botocore.exceptions.ClientError as exc:
        if error_code(exc) in ("404", "NoSuchKey", "NotFound", "NoSuchBucket"):  # a plan before the bucket
            return False
        raise


def _has_image(ecr: Any, repo: str, tag: str) -> bool:
    try:
        ecr.describe_images(repositoryName=repo, imageIds=[{"imageTag": tag}])
        return True
    except botocore.exceptions.ClientError as exc:
        if error_code(exc) in ("ImageNotFoundException", "RepositoryNotFoundException"):
            return False
        raise
