"""Registry stack: the optimizer's ECR repositories, deployed first (wave 50).

Images are pushed into these repositories before the stacks that run them are deployed:
the pipeline's deploy step deploys this stack alone (`charter workload deploy --stacks
registry`), pushes, then deploys the rest with `--image-tag`. Repositories are IMMUTABLE,
scanned on push, KMS-encrypted with the environment key, keep the 50 newest images, and
are retained when the stack goes (images are evidence of what ran).
"""

from __future__ import annotations

import json

from troposphere import Output, Template
from troposphere.ecr import (
    EncryptionConfiguration,
    ImageScanningConfiguration,
    LifecyclePolicy,
    Repository,
)

from charter.landing_zone.metadata import controls
from charter.landing_zone.registry import builder

from ._common import Ctx, key_parameter, new_template

#: Container images the optimizer ships (the risk manager image is also used by Lambda).
REPOSITORIES = ("risk", "processing", "search")
#: The compute stack's `ImageTag` while no image has been pushed: the risk manager (the one
#: image-based function) is left out until one is, so a first deploy needs no image.
DEFERRED_TAG = "none"

_LIFECYCLE = json.dumps({"rules": [{
    "rulePriority": 1, "description": "Keep the 50 most recent images",
    "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 50},
    "action": {"type": "expire"}}]}, separators=(",", ":"))


def repository_name(ctx: Ctx, repo: str) -> str:
    return ctx.name(repo)


@builder("workload_registry", controls=["WKL-03", "WKL-14"],
         description="The ECR repositories of the optimizer's images (deployed first).")
def build(ctx: Ctx) -> Template:
    t = new_template(ctx, "registry (ECR)")
    key = key_parameter(t, ctx)
    for repo in REPOSITORIES:
        res = controls(Repository(
            "Repository" + repo.capitalize(), RepositoryName=repository_name(ctx, repo), ImageTagMutability="IMMUTABLE",
            ImageScanningConfiguration=ImageScanningConfiguration(ScanOnPush=True),
            EncryptionConfiguration=EncryptionConfiguration(EncryptionType="KMS", KmsKey=key),
            LifecyclePolicy=LifecyclePolicy(LifecyclePolicyText=_LIFECYCLE)), "WKL-14", "WKL-03")
        res.DeletionPolicy = "Retain"
        res.UpdateReplacePolicy = "Retain"
        t.add_resource(res)
        t.add_output(Output("Repository" + repo.capitalize(), Value=repository_name(ctx, repo)))
    return t
