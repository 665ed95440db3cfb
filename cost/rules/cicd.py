"""CI/CD: CodeBuild minutes and CodePipeline (V2 action minutes, V1 per pipeline)."""

from __future__ import annotations

from collections.abc import Iterator

from ..engine import Res, rule
from ..lines import Line

#: CodeBuild compute type -> price key suffix.
COMPUTE = {"BUILD_GENERAL1_SMALL": "general1.small", "BUILD_GENERAL1_MEDIUM": "general1.medium",
           "BUILD_GENERAL1_LARGE": "general1.large"}


@rule("AWS::CodeBuild::Project")
def project(r: Res) -> Iterator[Line]:
    env = r.props.get("Environment") or {}
    size = COMPUTE.get(str(env.get("ComputeType")), str(env.get("ComputeType", "?")).lower())
    os_ = "arm" if "ARM" in str(env.get("Type", "")) else "linux"
    builds, minutes = r.usage("builds_per_month"), r.usage("build_minutes")
    yield r.line("CodeBuild", f"build minutes ({size})", f"codebuild.{os_}.{size}.minute", builds.value * minutes.value,
                 f"{builds.text} x {minutes.text} min", builds.setting)


@rule("AWS::CodePipeline::Pipeline")
def pipeline(r: Res) -> Iterator[Line]:
    if r.props.get("PipelineType", "V1") == "V1":
        yield r.line("CodePipeline", "active pipeline (V1)", "codepipeline.v1.pipeline.month", 1, "1 pipeline-month", "")
        return
    actions = sum(1 for st in r.props.get("Stages") or [] for a in st.get("Actions") or []
                  if (a.get("ActionTypeId") or {}).get("Provider") == "CodeBuild")
    builds, minutes = r.usage("builds_per_month"), r.usage("build_minutes")
    yield r.line("CodePipeline", "action execution minutes (V2)", "codepipeline.v2.action_minute",
                 builds.value * actions * minutes.value,
                 f"{builds.text} x {actions} CodeBuild action(s) x {minutes.text} min", builds.setting)
