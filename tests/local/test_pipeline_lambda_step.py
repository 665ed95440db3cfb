"""A SageMaker pipeline's Lambda step on the embedded AWS, as SageMaker runs it: the function
is invoked from its own artifact with the pipeline's role, the step's resolved Arguments are
its event, its answer gives the step's OutputParameters, and an error it raises (or a
declared output it does not answer) fails the step, the execution and its events with the
reason. (moto runs no step at all: its executions are "Succeeded" at once.)"""

from __future__ import annotations

import io
import json
import time
import zipfile

import pytest
from awacs import awslambda
from awacs.aws import Allow, PolicyDocument, Principal, Statement
from awacs.sts import AssumeRole

from charter.local import LocalAws

pytestmark = pytest.mark.e2e
#: a hang guard, not a timing: the function's interpreter starts cold
DEADLINE_SECONDS = 300
CODE = '''
def handler(event, context):
    if event.get("fail") == "yes":
        raise ValueError("cannot merge " + event["x"])
    return {"out": event["x"] + "!", "count": 3}
'''


def _doc(*statements: Statement) -> str:
    return PolicyDocument(Version="2012-10-17", Statement=list(statements)).to_json()


def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("step.py", CODE)
    return buf.getvalue()


def _run(sm, name: str, role: str, fn: str, fail: str, outputs: list[str]) -> tuple[dict, list[dict]]:
    definition = {"Version": "2020-12-01", "Parameters": [{"Name": "X", "Type": "String"}], "Steps": [{
        "Name": "Merge", "Type": "Lambda", "FunctionArn": fn,
        "Arguments": {"x": {"Get": "Parameters.X"}, "fail": fail},
        "OutputParameters": [{"OutputName": o, "OutputType": "String"} for o in outputs]}]}
    sm.create_pipeline(PipelineName=name, RoleArn=role, PipelineDefinition=json.dumps(definition))
    arn = sm.start_pipeline_execution(PipelineName=name, PipelineParameters=[{"Name": "X", "Value": "hi"}])[
        "PipelineExecutionArn"]
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        described = sm.describe_pipeline_execution(PipelineExecutionArn=arn)
        if described["PipelineExecutionStatus"] not in ("Executing", "Stopping"):
            return described, sm.list_pipeline_execution_steps(PipelineExecutionArn=arn)["PipelineExecutionSteps"]
        time.sleep(0.2)
    raise AssertionError(f"execution {arn} did not end")


def test_a_lambda_step_runs_the_function_with_the_pipelines_role_and_fails_with_its_error() -> None:
    with LocalAws() as aws:
        sessions = aws.sessions()
        iam, lam, sm = sessions.client("iam"), sessions.client("lambda"), sessions.client("sagemaker")
        fn_role = iam.create_role(RoleName="step-fn", AssumeRolePolicyDocument=_doc(Statement(
            Effect=Allow, Action=[AssumeRole], Principal=Principal("Service", ["lambda.amazonaws.com"]))))["Role"]["Arn"]
        fn = lam.create_function(FunctionName="merge", Runtime="python3.12", Handler="step.handler", Role=fn_role,
                                 Code={"ZipFile": _zip()}, Timeout=60)["FunctionArn"]
        role = iam.create_role(RoleName="pipeline", AssumeRolePolicyDocument=_doc(Statement(
            Effect=Allow, Action=[AssumeRole], Principal=Principal("Service", ["sagemaker.amazonaws.com"]))))["Role"]
        iam.put_role_policy(RoleName="pipeline", PolicyName="invoke", PolicyDocument=_doc(
            Statement(Effect=Allow, Action=[awslambda.InvokeFunction], Resource=[fn])))

        done, [step] = _run(sm, "ok", role["Arn"], fn, "no", ["out"])
        assert done["PipelineExecutionStatus"] == "Succeeded", done
        assert step["StepStatus"] == "Succeeded" and step["Metadata"]["Lambda"] == {
            "Arn": fn, "OutputParameters": [{"Name": "out", "Value": "hi!"}]}

        failed, [step] = _run(sm, "raises", role["Arn"], fn, "yes", ["out"])
        assert failed["PipelineExecutionStatus"] == "Failed"
        assert step["StepStatus"] == "Failed" and "ValueError: cannot merge hi" in step["FailureReason"]

        missing, [step] = _run(sm, "no-output", role["Arn"], fn, "no", ["out", "summary_key"])
        assert missing["PipelineExecutionStatus"] == "Failed"
        assert "no output parameter 'summary_key'" in step["FailureReason"]
