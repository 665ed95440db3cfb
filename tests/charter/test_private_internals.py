"""The private internals of botocore, boto3 and scipy that Charter uses, each with a test that
breaks on the upgrade that removes it (each use falls back or fails quietly otherwise, so
without these a speed-up would vanish unnoticed).

- `boto3.Session._session` (`charter.aws.botocore_session`): the profile's retry settings and
  one service-model loader shared by every assumed-role session of a fan-out.
- `botocore.client.ClientCreator._load_service_model` / `_create_client_class`
  (`charter.aws._install_shared_client_parts`): one model and client class per service and
  loader instead of one per client.
- `scipy.optimize._highspy._core` (`charter.optimizer.solvers.cvar._highs_core`): HiGHS'
  bindings with basis warm starts, when the `highspy` package is not installed.
"""

from __future__ import annotations

import importlib

import boto3
import botocore.client
import botocore.session

from charter.aws import SessionFactory, botocore_session


def test_boto3_still_keeps_its_botocore_session_where_charter_reads_it() -> None:
    inner = botocore_session(boto3.Session(region_name="us-east-1"))
    assert isinstance(inner, botocore.session.Session)
    for name in ("get_scoped_config", "get_component", "register_component"):
        assert callable(getattr(inner, name))


def test_clients_of_one_factory_share_their_class_through_botocores_private_methods() -> None:
    for name in ("_load_service_model", "_create_client_class"):
        assert getattr(getattr(botocore.client.ClientCreator, name), "_charter_shared", False), name
    factory = SessionFactory(region="us-east-1", credentials=("AKIDEXAMPLE", "secret"))
    east, west = factory.client("sts"), factory.client("sts", region="eu-west-1")
    assert type(east) is type(west)  # stock botocore builds a new class for every client
    stock = boto3.Session(aws_access_key_id="a", aws_secret_access_key="b", region_name="us-east-1")
    assert type(stock.client("sts")) is not type(stock.client("sts"))


def test_scipy_still_ships_the_highs_bindings_the_cvar_solver_warm_starts() -> None:
    core = importlib.import_module("scipy.optimize._highspy._core")
    for name in ("_Highs", "HighsLp", "HighsBasis", "HighsBasisStatus", "MatrixFormat"):
        assert hasattr(core, name), name
    from charter.optimizer.solvers.cvar import _highs_core

    assert _highs_core() is not None
