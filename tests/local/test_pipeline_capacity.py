"""How the embedded AWS spends the machine on pipeline executions: a burst of starts waits
for a few runners instead of becoming a thread each, and a Processing step's container
runs at a lower CPU priority than the services and their callers (on AWS it has a
machine of its own; here it must not take the cores from the API that started it)."""

from __future__ import annotations

import json
import os
import threading
import time

import pytest
from awacs import s3 as s3_actions
from awacs.aws import Allow, PolicyDocument, Principal, Statement
from awacs.sts import AssumeRole

from charter.local import LocalAws, pipelines, priority

pytestmark = pytest.mark.e2e
#: a hang guard, not a timing: each step starts an interpreter
DEADLINE_SECONDS = 600
BUCKET = "capacity-results"
#: the container: writes its own niceness where the step uploads from
CONTAINER = ("import os, pathlib; out = pathlib.Path('opt/ml/processing/output'); out.mkdir(parents=True, "
             "exist_ok=True); (out / 'nice.txt').write_text(str(os.getpriority(os.PRIO_PROCESS, 0)))")


def _doc(*statements: Statement) -> str:
    return PolicyDocument(Version="2012-10-17", Statement=list(statements)).to_json()


def _pipeline(sessions) -> str:
    iam, sm = sessions.client("iam"), sessions.client("sagemaker")
    sessions.client("s3").create_bucket(Bucket=BUCKET)
    role = iam.create_role(RoleName="capacity", AssumeRolePolicyDocument=_doc(Statement(
        Effect=Allow, Action=[AssumeRole], Principal=Principal("Service", ["sagemaker.amazonaws.com"]))))["Role"]["Arn"]
    iam.put_role_policy(RoleName="capacity", PolicyName="results", PolicyDocument=_doc(Statement(
        Effect=Allow, Action=[s3_actions.PutObject], Resource=[f"arn:aws:s3:::{BUCKET}/*"])))
    definition = {"Version": "2020-12-01", "Parameters": [{"Name": "Run", "Type": "String"}], "Steps": [{
        "Name": "Measure", "Type": "Processing", "Arguments": {
            "RoleArn": role,
            "AppSpecification": {"ImageUri": "local", "ContainerEntrypoint": ["python3", "-c", CONTAINER]},
            "ProcessingResources": {"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large",
                                                      "VolumeSizeInGB": 1}},
            "ProcessingOutputConfig": {"Outputs": [{"OutputName": "out", "S3Output": {
                "S3Uri": {"Std:Join": {"On": "/", "Values": [f"s3://{BUCKET}", {"Get": "Parameters.Run"}]}},
                "LocalPath": "/opt/ml/processing/output", "S3UploadMode": "EndOfJob"}}]},
            "StoppingCondition": {"MaxRuntimeInSeconds": 300}}}]}
    sm.create_pipeline(PipelineName="capacity", RoleArn=role, PipelineDefinition=json.dumps(definition))
    return role


def _wait(sm, arns: list[str]) -> list[dict]:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while True:
        described = [sm.describe_pipeline_execution(PipelineExecutionArn=a) for a in arns]
        if all(d["PipelineExecutionStatus"] not in ("Executing", "Stopping") for d in described):
            return described
        assert time.monotonic() < deadline, "executions still running"
        time.sleep(0.2)


def test_a_burst_of_executions_waits_for_the_runners_and_containers_run_niced() -> None:
    with LocalAws() as aws:
        sessions = aws.sessions()
        sm, s3 = sessions.client("sagemaker"), sessions.client("s3")
        _pipeline(sessions)
        burst = 3 * pipelines.RUNNERS
        arns = [sm.start_pipeline_execution(PipelineName="capacity", PipelineParameters=[
            {"Name": "Run", "Value": f"run-{i}"}])["PipelineExecutionArn"] for i in range(burst)]
        # all started (AWS says Executing at once), but not a thread each: they wait for a runner
        running = [t.name for t in threading.enumerate() if t.name.startswith("pipeline")]
        assert len(running) <= pipelines.RUNNERS, running
        assert [d["PipelineExecutionStatus"] for d in _wait(sm, arns)] == ["Succeeded"] * burst
        expected = min(19, os.getpriority(os.PRIO_PROCESS, 0) + priority.BACKGROUND_NICENESS)
        for i in (0, burst - 1):
            niceness = s3.get_object(Bucket=BUCKET, Key=f"run-{i}/nice.txt")["Body"].read().decode()
            assert int(niceness) == expected
