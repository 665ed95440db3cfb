"""Workloads layered on the landing zone: the optimizer's stacks and their Lambda handlers."""
