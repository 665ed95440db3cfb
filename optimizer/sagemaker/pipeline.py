"""The optimization pipeline definition (SageMaker Pipelines JSON, schema version 2020-12-01).

    DataValidation -> ScenarioGeneration -> DistributedOptimization -> ResultsAggregation
                   -> AgentSynthesis

* DataValidation, ScenarioGeneration, ResultsAggregation and AgentSynthesis are
  Processing jobs on one instance of ``instance_type``.
* DistributedOptimization is a Training job, the SageMaker job type with managed spot
  and checkpointing: ``instance_count`` hosts each evaluate their shard of the search's
  trials (trial files reach the hosts ``ShardedByS3Key``; the data and the plan are
  ``FullyReplicated``), writing every finished trial to ``/opt/ml/checkpoints``, which
  SageMaker syncs to S3 and restores after a spot interruption.
* ResultsAggregation reads the checkpoint prefix (host-named JSONL files), merges it and
  finishes the search (the later successive-halving rungs are small); with
  ``distributed_rungs=k`` the first ``k`` rungs each get an optimization+aggregation
  pair (``...Rung1``, ``...Rung2``) — a pipeline has no loops.

:func:`pipeline_definition` returns the dict that goes into the workload stack's
``AWS::SageMaker::Pipeline`` ``PipelineDefinition.PipelineDefinitionBody`` (as JSON).
The definition is written out by hand against the documented schema: the SageMaker
Python SDK v3 (``sagemaker-core`` >= 2) requires boto3 >= 1.35.75 (2.27: >= 1.43.90)
and Charter's environment is pinned at boto3 1.35.49 by checkov, so the SDK is not
imported here.  :func:`sdk_pipeline` builds the same pipeline with the SDK where it is
installed (a separate environment), and a test checks that the two definitions are equal.
"""

from __future__ import annotations

from typing import Any

from charter.optimizer.errors import OptimizerError

from . import steps as st

SCHEMA_VERSION = "2020-12-01"
ENTRYPOINT = ["python3", "-m", "charter.optimizer.container"]
CHECKPOINT_LOCAL_PATH = "/opt/ml/checkpoints"
OBJECTIVE_METRIC = "validation:sharpe_ratio"
STEP_NAMES = ("DataValidation", "ScenarioGeneration", "DistributedOptimization", "ResultsAggregation",
              "AgentSynthesis")
MAX_PROCESSING_INSTANCES = 100  # SageMaker's limit per Processing / Training job

Json = dict[str, Any]


def _get(path: str) -> Json:
    return {"Get": path}


def _join(*values: Any, on: str = "") -> Json:
    return {"Std:Join": {"On": on, "Values": list(values)}}


def _rung_suffix(rung: int) -> str:
    return "" if rung == 0 else f"Rung{rung}"


class _Builder:
    def __init__(self, image_uri: str, role_arn: str, bucket: str, prefix: str, instance_type: str,
                 instance_count: int, spot: bool, volume_size_gb: int, max_runtime_seconds: int,
                 max_wait_seconds: int, kms_key_id: str | None, workers: int):
        self.image_uri, self.role_arn = image_uri, role_arn
        self.bucket, self.prefix = bucket, prefix.strip("/")
        self.instance_type, self.instance_count, self.spot = instance_type, instance_count, spot
        self.volume, self.kms = volume_size_gb, kms_key_id
        self.max_runtime, self.max_wait, self.workers = max_runtime_seconds, max_wait_seconds, workers

    def s3(self, *parts: str) -> Json:
        """``s3://bucket/prefix/<execution id>/<parts>``: every execution writes apart."""
        return _join(f"s3://{self.bucket}/{self.prefix}", _get("Execution.PipelineExecutionId"), *parts, on="/")

    def processing(self, name: str, args: list[Any], inputs: list[Json], outputs: list[Json],
                   depends: list[str]) -> Json:
        cluster: Json = {"InstanceCount": 1, "InstanceType": _get("Parameters.ProcessingInstanceType"),
                         "VolumeSizeInGB": self.volume}
        if self.kms:
            cluster["VolumeKmsKeyId"] = self.kms
        out_cfg: Json = {"Outputs": outputs}
        if self.kms:
            out_cfg["KmsKeyId"] = self.kms
        step: Json = {"Name": name, "Type": "Processing", "Arguments": {
            "ProcessingResources": {"ClusterConfig": cluster},
            "AppSpecification": {"ImageUri": self.image_uri, "ContainerEntrypoint": ENTRYPOINT,
                                 "ContainerArguments": args},
            "RoleArn": self.role_arn,
            "ProcessingInputs": inputs,
            "ProcessingOutputConfig": out_cfg,
            "StoppingCondition": {"MaxRuntimeInSeconds": self.max_runtime},
            "NetworkConfig": {"EnableInterContainerTrafficEncryption": True, "EnableNetworkIsolation": True},
            "Environment": {"JOB_ID": _get("Parameters.JobId")},
        }}
        if depends:
            step["DependsOn"] = depends
        return step

    @staticmethod
    def p_input(name: str, uri: Any, distribution: str = "FullyReplicated") -> Json:
        return {"InputName": name, "AppManaged": False, "S3Input": {
            "S3Uri": uri, "LocalPath": f"/opt/ml/processing/input/{name}", "S3DataType": "S3Prefix",
            "S3InputMode": "File", "S3DataDistributionType": distribution, "S3CompressionType": "None"}}

    def p_output(self, name: str, *where: str) -> Json:
        return {"OutputName": name, "AppManaged": False, "S3Output": {
            "S3Uri": self.s3(*(where or (name,))), "LocalPath": f"/opt/ml/processing/output/{name}",
            "S3UploadMode": "EndOfJob"}}

    @staticmethod
    def out_uri(step: str, name: str) -> Json:
        return _get(f"Steps.{step}.ProcessingOutputConfig.Outputs['{name}'].S3Output.S3Uri")

    def training(self, name: str, rung: int, channels: list[tuple[str, Any, str]], depends: list[str]) -> Json:
        resources: Json = {"InstanceCount": _get("Parameters.OptimizationInstanceCount"),
                           "InstanceType": _get("Parameters.ProcessingInstanceType"),
                           "VolumeSizeInGB": self.volume}
        if self.kms:
            resources["VolumeKmsKeyId"] = self.kms
        stopping: Json = {"MaxRuntimeInSeconds": self.max_runtime}
        output: Json = {"S3OutputPath": self.s3("training", f"rung{rung}"), "CompressionType": "GZIP"}
        if self.kms:
            output["KmsKeyId"] = self.kms
        args: Json = {
            "AlgorithmSpecification": {
                # No ContainerEntrypoint: SageMaker runs `<image ENTRYPOINT> train`.
                "TrainingImage": self.image_uri, "TrainingInputMode": "File",
                "MetricDefinitions": [{"Name": OBJECTIVE_METRIC, "Regex": "sharpe_ratio=([-0-9.eE]+)"}]},
            "OutputDataConfig": output,
            "StoppingCondition": stopping,
            "ResourceConfig": resources,
            "RoleArn": self.role_arn,
            "InputDataConfig": [{"ChannelName": ch, "DataSource": {"S3DataSource": {
                "S3DataType": "S3Prefix", "S3Uri": uri, "S3DataDistributionType": dist}}, "InputMode": "File"}
                for ch, uri, dist in channels],
            "HyperParameters": {"rung": str(rung), "workers": str(self.workers)},
            # Every host appends finished trials to a host-named file here; SageMaker syncs
            # the directory to S3 and restores it when a spot-interrupted job restarts.
            "CheckpointConfig": {"S3Uri": self.s3("checkpoints"), "LocalPath": CHECKPOINT_LOCAL_PATH},
            "EnableInterContainerTrafficEncryption": True,
            "EnableNetworkIsolation": True,
        }
        if self.spot:
            # Managed spot: MaxWait > MaxRuntime leaves time to wait for capacity.
            args["EnableManagedSpotTraining"] = True
            stopping["MaxWaitTimeInSeconds"] = self.max_wait
        return {"Name": name, "Type": "Training", "Arguments": args, "DependsOn": depends}


def pipeline_definition(image_uri: str, role_arn: str, bucket: str, instance_type: str = "ml.c5.4xlarge",
                        instance_count: int = 20, spot: bool = True, *, prefix: str = "optimizer",
                        job_config_uri: str | None = None, market_data_uri: str | None = None,
                        distributed_rungs: int = 1, kms_key_id: str | None = None, volume_size_gb: int = 50,
                        max_runtime_seconds: int = 3600, max_wait_seconds: int = 7200,
                        workers_per_host: int = 16) -> dict:
    """The pipeline definition as a dict (``json.dumps`` it into ``PipelineDefinitionBody``).

    ``image_uri``: the optimizer image (``optimizer/container/Dockerfile``) in ECR;
    ``role_arn``: the pipeline's execution role; ``bucket``: where every step writes
    (``s3://bucket/prefix/<execution id>/...``); ``instance_type`` / ``instance_count``:
    defaults of the ``ProcessingInstanceType`` / ``OptimizationInstanceCount`` parameters
    (ml.c5.4xlarge, 20 hosts: 16 vCPUs each, hence ``workers_per_host=16``); ``spot``:
    managed spot on the optimization (Training) step; ``job_config_uri`` /
    ``market_data_uri``: defaults of the ``JobConfigUri`` / ``MarketDataUri`` parameters
    (the job's JSON and its data files); ``distributed_rungs``: successive-halving rungs
    that get their own multi-host step.  Values may hold ``${...}`` CloudFormation
    substitutions (the stack passes the body through ``Fn::Sub``).
    """
    if not 1 <= instance_count <= MAX_PROCESSING_INSTANCES:
        raise OptimizerError(f"pipeline: instance_count must be 1..{MAX_PROCESSING_INSTANCES}, got {instance_count}")
    if spot and max_wait_seconds <= max_runtime_seconds:
        raise OptimizerError("pipeline: with spot, max_wait_seconds must exceed max_runtime_seconds "
                             f"({max_wait_seconds} <= {max_runtime_seconds})")
    if distributed_rungs < 1:
        raise OptimizerError(f"pipeline: distributed_rungs must be >= 1, got {distributed_rungs}")
    for what, v in (("image_uri", image_uri), ("role_arn", role_arn), ("bucket", bucket)):
        if not v:
            raise OptimizerError(f"pipeline: {what} must not be empty")
    b = _Builder(image_uri, role_arn, bucket, prefix, instance_type, instance_count, spot, volume_size_gb,
                 max_runtime_seconds, max_wait_seconds, kms_key_id, workers_per_host)
    cfg_default = job_config_uri or f"s3://{bucket}/{prefix}/input/config/"
    market_default = market_data_uri or f"s3://{bucket}/{prefix}/input/market/"
    parts = _join(_get("Parameters.OptimizationInstanceCount"))  # ParameterInteger.to_string()
    validated = b.out_uri("DataValidation", st.VALIDATED)
    plan = b.out_uri("ScenarioGeneration", st.PLAN)
    steps: list[Json] = [
        b.processing("DataValidation", ["validate-data"],
                     [b.p_input(st.CONFIG, _get("Parameters.JobConfigUri")),
                      b.p_input(st.MARKET, _get("Parameters.MarketDataUri"))],
                     [b.p_output(st.VALIDATED)], []),
        b.processing("ScenarioGeneration", ["generate-scenarios", "--parts", parts],
                     [b.p_input(st.VALIDATED, validated)],
                     [b.p_output(st.PLAN), b.p_output(st.TRIALS)], ["DataValidation"]),
    ]
    prev = "ScenarioGeneration"
    for rung in range(distributed_rungs):
        opt, agg = "DistributedOptimization" + _rung_suffix(rung), "ResultsAggregation" + _rung_suffix(rung)
        last = rung == distributed_rungs - 1
        channels = [(st.VALIDATED, validated, "FullyReplicated"), (st.PLAN, plan, "FullyReplicated")]
        agg_inputs = [b.p_input(st.VALIDATED, validated), b.p_input(st.PLAN, plan),
                      b.p_input(st.SHARDS, b.s3("checkpoints"))]
        if rung == 0:
            channels.append((st.TRIALS, b.out_uri("ScenarioGeneration", st.TRIALS), "ShardedByS3Key"))
        else:
            promoted = b.out_uri(prev, st.PROMOTED)
            channels.append((st.PROMOTED, promoted, "FullyReplicated"))
            agg_inputs.append(b.p_input(st.PROMOTED, promoted))
        steps.append(b.training(opt, rung, channels, [prev]))
        args = ["aggregate", "--rung", str(rung), "--final" if last else "--no-final",
                "--workers", str(workers_per_host)]
        outputs = [b.p_output(st.RESULTS)] if last else [b.p_output(st.PROMOTED, "promoted", f"rung{rung + 1}")]
        steps.append(b.processing(agg, args, agg_inputs, outputs, [opt]))
        prev = agg
    steps.append(b.processing("AgentSynthesis", ["synthesize-agent-report"],
                              [b.p_input(st.VALIDATED, validated), b.p_input(st.PLAN, plan),
                               b.p_input(st.RESULTS, b.out_uri(prev, st.RESULTS))],
                              [b.p_output(st.REPORT)], [prev]))
    return {
        "Version": SCHEMA_VERSION,
        "Metadata": {},
        "Parameters": [
            {"Name": "JobId", "Type": "String", "DefaultValue": "scheduled"},
            {"Name": "JobConfigUri", "Type": "String", "DefaultValue": cfg_default},
            {"Name": "MarketDataUri", "Type": "String", "DefaultValue": market_default},
            {"Name": "ProcessingInstanceType", "Type": "String", "DefaultValue": instance_type},
            {"Name": "OptimizationInstanceCount", "Type": "Integer", "DefaultValue": instance_count},
        ],
        "PipelineExperimentConfig": {"ExperimentName": _get("Execution.PipelineName"),
                                     "TrialName": _get("Execution.PipelineExecutionId")},
        "MlflowConfig": None,  # as the SDK v3 serializes it
        "Steps": steps,
    }


def step_order(definition: dict) -> list[str]:
    """Step names in dependency order (a topological sort; raises on a cycle or a dangling name)."""
    deps = {s["Name"]: list(s.get("DependsOn", [])) for s in definition["Steps"]}
    order: list[str] = []
    seen: set[str] = set()

    def visit(n: str, stack: tuple[str, ...]) -> None:
        if n in stack:
            raise OptimizerError(f"pipeline: dependency cycle through {n}")
        if n not in deps:
            raise OptimizerError(f"pipeline: unknown step {n} in DependsOn")
        if n in seen:
            return
        for d in deps[n]:
            visit(d, stack + (n,))
        seen.add(n)
        order.append(n)

    for name in deps:
        visit(name, ())
    return order


# ---------------------------------------------------------------------- the same, with the SDK
def sdk_pipeline(image_uri: str, role_arn: str, bucket: str, instance_type: str = "ml.c5.4xlarge",
                 instance_count: int = 20, spot: bool = True, *, name: str = "charter-optimizer",
                 region: str = "us-east-1", prefix: str = "optimizer", job_config_uri: str | None = None,
                 market_data_uri: str | None = None, distributed_rungs: int = 1, kms_key_id: str | None = None,
                 volume_size_gb: int = 50, max_runtime_seconds: int = 3600, max_wait_seconds: int = 7200,
                 workers_per_host: int = 16):
    """The pipeline as a SageMaker SDK v3 ``Pipeline`` (``pip install 'charter[sagemaker]'``).

    Builds offline: a ``PipelineSession`` with a fixed region and default bucket, and
    ``SAGEMAKER_VALIDATE_ROLE=false`` so ModelTrainer does not call IAM to simulate the role.
    ``json.loads(sdk_pipeline(...).definition())`` equals :func:`pipeline_definition`.
    """
    import os

    os.environ.setdefault("AWS_DEFAULT_REGION", region)  # the mlops package needs a region at import
    os.environ.setdefault("SAGEMAKER_VALIDATE_ROLE", "false")
    try:
        import boto3
        from sagemaker.core.network import NetworkConfig
        from sagemaker.core.processing import Processor
        from sagemaker.core.shapes import (
            MetricDefinition,
            ProcessingInput,
            ProcessingOutput,
            ProcessingS3Input,
            ProcessingS3Output,
            StoppingCondition,
        )
        from sagemaker.core.training.configs import (
            CheckpointConfig,
            Compute,
            InputData,
            Networking,
            OutputDataConfig,
        )
        from sagemaker.core.workflow.execution_variables import ExecutionVariables
        from sagemaker.core.workflow.functions import Join
        from sagemaker.core.workflow.parameters import ParameterInteger, ParameterString
        from sagemaker.core.workflow.pipeline_context import PipelineSession
        from sagemaker.mlops.workflow.pipeline import Pipeline
        from sagemaker.mlops.workflow.steps import ProcessingStep, TrainingStep
        from sagemaker.train.model_trainer import ModelTrainer
    except ImportError as exc:
        raise OptimizerError(f"pipeline: the SageMaker SDK v3 is not installed ({exc}); "
                             "pip install 'charter[sagemaker]' or use pipeline_definition()") from None

    pipeline_definition(image_uri, role_arn, bucket, instance_type, instance_count, spot, prefix=prefix,
                        distributed_rungs=distributed_rungs, max_runtime_seconds=max_runtime_seconds,
                        max_wait_seconds=max_wait_seconds)  # same argument checks
    session = PipelineSession(boto_session=boto3.Session(region_name=region), default_bucket=bucket)
    job_id = ParameterString("JobId", default_value="scheduled")
    cfg_uri = ParameterString("JobConfigUri", default_value=job_config_uri or f"s3://{bucket}/{prefix}/input/config/")
    market_uri = ParameterString("MarketDataUri",
                                 default_value=market_data_uri or f"s3://{bucket}/{prefix}/input/market/")
    itype = ParameterString("ProcessingInstanceType", default_value=instance_type)
    icount = ParameterInteger("OptimizationInstanceCount", default_value=instance_count)

    def s3(*parts: str):
        return Join(on="/", values=[f"s3://{bucket}/{prefix.strip('/')}", ExecutionVariables.PIPELINE_EXECUTION_ID,
                                    *parts])

    def p_in(name: str, uri, dist: str = "FullyReplicated"):
        return ProcessingInput(input_name=name, app_managed=False, s3_input=ProcessingS3Input(
            s3_uri=uri, local_path=f"/opt/ml/processing/input/{name}", s3_data_type="S3Prefix",
            s3_input_mode="File", s3_data_distribution_type=dist))

    def p_out(name: str, *where: str):
        return ProcessingOutput(output_name=name, app_managed=False, s3_output=ProcessingS3Output(
            s3_uri=s3(*(where or (name,))), local_path=f"/opt/ml/processing/output/{name}",
            s3_upload_mode="EndOfJob"))

    def processing(step_name: str, args: list, inputs: list, outputs: list, depends: list):
        proc = Processor(role=role_arn, image_uri=image_uri, instance_count=1, instance_type=itype,
                         entrypoint=ENTRYPOINT, volume_size_in_gb=volume_size_gb, volume_kms_key=kms_key_id,
                         output_kms_key=kms_key_id, max_runtime_in_seconds=max_runtime_seconds,
                         sagemaker_session=session, env={"JOB_ID": job_id},
                         network_config=NetworkConfig(enable_network_isolation=True,
                                                      encrypt_inter_container_traffic=True))
        return ProcessingStep(step_name, step_args=proc.run(inputs=inputs, outputs=outputs, arguments=args),
                              depends_on=depends or None)

    def out_uri(step, name: str):
        return step.properties.ProcessingOutputConfig.Outputs[name].S3Output.S3Uri

    validation = processing("DataValidation", ["validate-data"],
                            [p_in(st.CONFIG, cfg_uri), p_in(st.MARKET, market_uri)], [p_out(st.VALIDATED)], [])
    validated = out_uri(validation, st.VALIDATED)
    scenarios = processing("ScenarioGeneration", ["generate-scenarios", "--parts", icount.to_string()],
                           [p_in(st.VALIDATED, validated)], [p_out(st.PLAN), p_out(st.TRIALS)],
                           ["DataValidation"])
    plan = out_uri(scenarios, st.PLAN)
    steps = [validation, scenarios]
    prev = scenarios
    for rung in range(distributed_rungs):
        opt_name = "DistributedOptimization" + _rung_suffix(rung)
        agg_name = "ResultsAggregation" + _rung_suffix(rung)
        last = rung == distributed_rungs - 1
        channels = [InputData(channel_name=st.VALIDATED, data_source=validated),
                    InputData(channel_name=st.PLAN, data_source=plan)]
        agg_inputs = [p_in(st.VALIDATED, validated), p_in(st.PLAN, plan), p_in(st.SHARDS, s3("checkpoints"))]
        if rung == 0:
            channels.append(_sharded_channel(st.TRIALS, out_uri(scenarios, st.TRIALS)))
        else:
            promoted = out_uri(prev, st.PROMOTED)
            channels.append(InputData(channel_name=st.PROMOTED, data_source=promoted))
            agg_inputs.append(p_in(st.PROMOTED, promoted))
        trainer = ModelTrainer(
            sagemaker_session=session, role=role_arn, training_image=image_uri,
            compute=Compute(instance_type=itype, instance_count=icount, volume_size_in_gb=volume_size_gb,
                            volume_kms_key_id=kms_key_id, enable_managed_spot_training=True if spot else None),
            stopping_condition=StoppingCondition(max_runtime_in_seconds=max_runtime_seconds,
                                                 max_wait_time_in_seconds=max_wait_seconds if spot else None),
            checkpoint_config=CheckpointConfig(s3_uri=s3("checkpoints"), local_path=CHECKPOINT_LOCAL_PATH),
            output_data_config=OutputDataConfig(s3_output_path=s3("training", f"rung{rung}"), kms_key_id=kms_key_id),
            networking=Networking(enable_network_isolation=True, enable_inter_container_traffic_encryption=True),
            hyperparameters={"rung": str(rung), "workers": str(workers_per_host)},
            input_data_config=channels,
        ).with_metric_definitions([MetricDefinition(name=OBJECTIVE_METRIC, regex="sharpe_ratio=([-0-9.eE]+)")])
        opt = TrainingStep(opt_name, step_args=trainer.train(), depends_on=[prev.name])
        args = ["aggregate", "--rung", str(rung), "--final" if last else "--no-final", "--workers",
                str(workers_per_host)]
        outputs = [p_out(st.RESULTS)] if last else [p_out(st.PROMOTED, "promoted", f"rung{rung + 1}")]
        agg = processing(agg_name, args, agg_inputs, outputs, [opt_name])
        steps += [opt, agg]
        prev = agg
    steps.append(processing("AgentSynthesis", ["synthesize-agent-report"],
                            [p_in(st.VALIDATED, validated), p_in(st.PLAN, plan),
                             p_in(st.RESULTS, out_uri(prev, st.RESULTS))], [p_out(st.REPORT)], [prev.name]))
    return Pipeline(name=name, parameters=[job_id, cfg_uri, market_uri, itype, icount], steps=steps,
                    sagemaker_session=session)


def _sharded_channel(name: str, uri):
    """A training channel whose S3 objects are dealt out across the hosts."""
    from sagemaker.core.shapes import Channel, DataSource, S3DataSource

    return Channel(channel_name=name, input_mode="File", data_source=DataSource(s3_data_source=S3DataSource(
        s3_data_type="S3Prefix", s3_uri=uri, s3_data_distribution_type="ShardedByS3Key")))
