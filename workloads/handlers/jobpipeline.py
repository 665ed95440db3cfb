"""The API job's SageMaker pipeline (schema 2020-12-01): one Processing step per job.

    Parameters  JobId, JobSpecUri (s3://<results>/jobs/<id>/spec.json), MarketDataUri
                (the validated returns file of the spec's data set), ProcessingInstanceType
    Optimize    `python3 -m charter.workloads.jobstep` in the optimizer image: reads the
                spec and the data, writes the result pages to s3://<results>/results/<JobId>/

One step, not the search pipeline's five: every SageMaker job pays its start-up
(provisioning and image pull, minutes), so five sequential jobs cannot meet "100
iterations in under 15 minutes"; one Processing job on one instance runs the job's
iterations on all its vCPUs (docs/optimizer-job-time.md has the estimate). On-demand
capacity: a spot Processing job does not exist, and a spot Training job may wait for
capacity up to its MaxWaitTimeInSeconds.

The same definition is the stack's (`workloads.stacks.sagemaker`) and the one the
embedded AWS runs (`charter workload serve --local`, `charter demo`).
"""

from __future__ import annotations

import json
from typing import Any

STEP = "Optimize"
STEPS = (STEP,)
ENTRYPOINT = ["python3", "-m", "charter.workloads.jobstep"]
SPEC_PREFIX = "jobs/"
PARAMETERS = ("JobId", "JobSpecUri", "MarketDataUri", "ProcessingInstanceType")
#: A job that has not finished in this time is stopped by SageMaker (and so FAILED).
MAX_RUNTIME_SECONDS = 1800


def spec_key(job_id: str) -> str:
    return f"{SPEC_PREFIX}{job_id}/spec.json"


def definition(*, image_uri: Any, role_arn: Any, results_bucket: Any, instance_type: str = "ml.c5.4xlarge",
               kms_key_id: Any = None, page_rows: int = 200, volume_size_gb: int = 30) -> dict[str, Any]:
    """The PipelineDefinitionBody (a dict; `json.dumps` it). String arguments may be
    `${...}` placeholders the stack passes through Fn::Sub."""
    get = lambda path: {"Get": path}  # noqa: E731
    cluster: dict[str, Any] = {"InstanceCount": 1, "InstanceType": get("Parameters.ProcessingInstanceType"),
                               "VolumeSizeInGB": volume_size_gb}
    outputs: dict[str, Any] = {"Outputs": [{"OutputName": "results", "AppManaged": False, "S3Output": {
        "S3Uri": {"Std:Join": {"On": "/", "Values": [f"s3://{results_bucket}/results", get("Parameters.JobId")]}},
        "LocalPath": "/opt/ml/processing/output/results", "S3UploadMode": "EndOfJob"}}]}
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
        "AppSpecification": {"ImageUri": image_uri, "ContainerEntrypoint": ENTRYPOINT,
                             "ContainerArguments": ["--page-rows", str(page_rows)]},
        "RoleArn": role_arn,
        "ProcessingInputs": [s3_input("spec", "JobSpecUri"), s3_input("market", "MarketDataUri")],
        "ProcessingOutputConfig": outputs,
        "StoppingCondition": {"MaxRuntimeInSeconds": MAX_RUNTIME_SECONDS},
        "NetworkConfig": {"EnableInterContainerTrafficEncryption": True, "EnableNetworkIsolation": True},
        "Environment": {"JOB_ID": get("Parameters.JobId")},
    }}
    return {
        "Version": "2020-12-01", "Metadata": {},
        "Parameters": [{"Name": "JobId", "Type": "String"}, {"Name": "JobSpecUri", "Type": "String"},
                       {"Name": "MarketDataUri", "Type": "String"},
                       {"Name": "ProcessingInstanceType", "Type": "String", "DefaultValue": instance_type}],
        "PipelineExperimentConfig": {
            "ExperimentName": {"Get": "Execution.PipelineName"},
            "TrialName": {"Get": "Execution.PipelineExecutionId"}},
        "Steps": [step],
    }


def definition_json(**kwargs: Any) -> str:
    return json.dumps(definition(**kwargs), separators=(",", ":"), sort_keys=True)
