"""A session factory acting through a role (`via`) is shared by a command's threads: each of
them must act as the role, including the ones that ask while the role is still being assumed
(the evidence workers' threads asked at once, and one of them went on as the profile)."""

from __future__ import annotations

import threading

import boto3

from charter.aws import SessionFactory


def test_a_thread_asking_while_the_role_is_assumed_waits_for_the_role():
    factory = SessionFactory(credentials=("AKIAEXAMPLE", "secret"), region="us-east-1",
                             via=("123456789012", "CharterEvidenceOperator"))
    role_session = boto3.Session(aws_access_key_id="ASIAROLE", aws_secret_access_key="s", aws_session_token="t",
                                 region_name="us-east-1")
    second: list[boto3.Session] = []
    others: list[threading.Thread] = []
    assumed_from: list[str] = []

    def slow_assume(source, account_id, role_name, region):
        assumed_from.append(source.get_credentials().access_key)
        # another thread wants the factory's session while this one is still assuming the role
        other = threading.Thread(target=lambda: second.append(factory.base))
        others.append(other)
        other.start()
        other.join(timeout=0.2)  # it waits for this thread (not asserted: only what it gets is)
        return role_session

    factory._assume_from = slow_assume  # type: ignore[method-assign]
    first = factory.base
    others[0].join(timeout=30)

    assert first is role_session
    assert second == [role_session]
    assert assumed_from == ["AKIAEXAMPLE"]  # assumed once, from the profile's credentials
