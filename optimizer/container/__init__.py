"""The optimizer's SageMaker container: ``python3 -m optimizer.container <subcommand>``."""
