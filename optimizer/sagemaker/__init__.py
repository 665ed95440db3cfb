"""The optimizer on SageMaker: container contracts, pipeline steps, the pipeline
definition and a local cluster that runs the same contract on one machine.

Nothing imported here needs the SageMaker SDK (the container has numpy + scipy only);
:func:`optimizer.sagemaker.pipeline.pipeline_definition` imports it lazily.
"""

from .contract import ROOT_ENV, Cluster, Contract, container_root, detect

__all__ = ["ROOT_ENV", "Cluster", "Contract", "container_root", "detect"]
