"""The API job's SageMaker pipeline (schema 2020-12-01): one Processing step, then the aggregator.

    Parameters          JobId, JobSpecUri (s3://<results>/jobs/<id>/spec.json), MarketDataUri
                        (the validated returns file of the spec's data set), ProcessingInstanceType
    Optimize            `python3 -m charter.workloads.jobstep` in the optimizer image: reads the
                        spec and the data, writes each host's part (summary, rows, search trials)
                        to s3://<results>/results/<JobId>/parts/<host>/
    ResultsAggregation  a Lambda step: the results aggregator function (the specification's
                        "results aggregator", 4096 MB, reserved concurrency 10) merges the hosts'
                        parts and writes the result pages and summary the results API serves to
                        s3://<results>/results/<JobId>/ (`handlers.aggregator.aggregate_job`)

The aggregator runs where the specification places it: as the pipeline's results-aggregation
stage, invoked by SageMaker with the pipeline's role (which needs lambda:InvokeFunction on
it), after the optimization and before the job-status rule sees the execution succeed. A
Lambda step starts in seconds (no instance to provision) and SageMaker waits for it at most
10 minutes, far above what merging one job's parts takes.

One SageMaker job, not the search pipeline's five: every SageMaker job pays its start-up
(provisioning and image pull, minutes), so five sequential jobs cannot meet "100
iterations in under 15 minutes"; one Processing job on one instance runs the job's
iterations on all its vCPUs (the README's "A 100-iteration job's wall time" has the estimate). On-demand
capacity: a spot Processing job does not exist, and a spot Training job may wait for
capacity up to its MaxWaitTimeInSeconds.

The same definition is the stack's (`workloads.stacks.sagemaker`) and the one the
embedded AWS runs (`charter workload serve --local`, `charter demo`).
"""

from __future__ import annotations

import json
from typing import Any

STEP = "Optimize"
AGGREGATE = "ResultsAggregation"
STEPS = (STEP, AGGREGATE)
#: Where each host of the Optimize step leaves its part (`parts/<host>/`), under the job's results.
PARTS = "parts/"
#: What the aggregator answers SageMaker (the Lambda step's OutputParameters).
AGGREGATE_OUTPUTS = (("rows_total", "Integer"), ("summary_key", "String"))
ENTRYPOINT = ["python3", "-m", "charter.workloads.jobstep"]
SPEC_PREFIX = "jobs/"
PARAMETERS = ("JobId", "JobSpecUri", "MarketDataUri", "ProcessingInstanceType")
#: A job that has not finished in this time is stopped by SageMaker (and so FAILED).
MAX_RUNTIME_SECONDS = 1800


def spec_key(job_id: str) -> str:
    return f"{SPEC_PREFIX}{job_id}/spec.json"


def definition(*, image_uri: Any, role_arn: Any, results_bucket: Any, aggregator_arn: Any,
               instance_type: str = "ml.c5.4xlarge", kms_key_id: Any = None, page_rows: int = 200,
               volume_size_gb: int = 30) -> dict[str, Any]:
    """The PipelineDefinitionBody (a dict; `json.dumps` it). String arguments may be
    `${...}` placeholders the stack passes through Fn::Sub. `aggregator_arn`: the results
    aggregator function (the stack gives its environment alias)."""
    get = lambda path: {"Get": path}  # noqa: E731
    cluster: dict[str, Any] = {"InstanceCount": 1, "InstanceType": get("Parameters.ProcessingInstanceType"),
                               "VolumeSizeInGB": volume_size_gb}
    parts_uri = {"Std:Join": {"On": "/", "Values": [f"s3://{results_bucket}/results", get("Parameters.JobId"),
                                                   PARTS.rstrip("/")]}}
    outputs: dict[str, Any] = {"Outputs": [{"OutputName": "parts", "AppManaged": False, "S3Output": {
        "S3Uri": parts_uri, "LocalPath": "/opt/ml/processing/output/parts", "S3UploadMode": "EndOfJob"}}]}
    if kms_key_id:
        cluster["VolumeKmsKeyId"] = kms_key_id
        outputs["KmsKeyId"] = kms_key_id

    def s3_input(name: str, parameter: str) -> dict[str, Any]:
        return {"InputName": name, "AppManaged": False, "S3Input": {
            "S3Uri": get(f"Parameters.{parameter}"), "LocalPath": f"/opt/ml/processing/input/{name}",
            "S3DataType": "S3Prefix", "S3InputMode": "File", "S3DataDistributionType": "FullyReplicated",
            "S3CompressionType": "None"}}

    step = {"Name": STEP, "Type": "Processing", "Arguments": {
        "ProcessingResources": {"ClusterConfig": cluster},
        "AppSpecification": {"ImageUri": image_uri, "ContainerEntrypoint": ENTRYPOINT},
        "RoleArn": role_arn,
        "ProcessingInputs": [s3_input("spec", "JobSpecUri"), s3_input("market", "MarketDataUri")],
        "ProcessingOutputConfig": outputs,
        "StoppingCondition": {"MaxRuntimeInSeconds": MAX_RUNTIME_SECONDS},
        "NetworkConfig": {"EnableInterContainerTrafficEncryption": True, "EnableNetworkIsolation": True},
        "Environment": {"JOB_ID": get("Parameters.JobId")},
    }}
    aggregate = {"Name": AGGREGATE, "Type": "Lambda", "DependsOn": [STEP], "FunctionArn": aggregator_arn,
                 "Arguments": {"job_id": get("Parameters.JobId"), "spec": get("Parameters.JobSpecUri"),
                               "parts": parts_uri, "page_rows": page_rows},
                 "OutputParameters": [{"OutputName": n, "OutputType": t} for n, t in AGGREGATE_OUTPUTS]}
    return {
        "Version": "2020-12-01", "Metadata": {},
        "Parameters": [{"Name": "JobId", "Type": "String"}, {"Name": "JobSpecUri", "Type": "String"},
                       {"Name": "MarketDataUri", "Type": "String"},
                       {"Name": "ProcessingInstanceType", "Type": "String", "DefaultValue": instance_type}],
        "PipelineExperimentConfig": {
            "ExperimentName": {"Get": "Execution.PipelineName"},
            "TrialName": {"Get": "Execution.PipelineExecutionId"}},
        "Steps": [step, aggregate],
    }


def definition_json(**kwargs: Any) -> str:
    return json.dumps(definition(**kwargs), separators=(",", ":"), sort_keys=True)
