"""IAM as AWS has it: AWS-managed policies in every account (built lazily), and a role's
ManagedPolicyArns attached when CloudFormation creates it."""

from __future__ import annotations

import json


def lazy_aws_managed_policies() -> None:
    """Every account has the ~1,300 AWS-managed IAM policies, as in AWS, but each account's
    set is built when that account's IAM is first asked about policies, not up front.

    moto builds the whole set for every account x partition the moment anything touches
    the account (about 1 s per account, most of `create_account`). Here the JSON is parsed
    once per process and each backend gets containers that fill themselves on first use;
    the policies stay per account (their attachment counts are per account), so nothing
    is shared that AWS keeps apart.
    """
    import threading

    from moto.iam import models as iam
    from moto.iam.aws_managed_policies import aws_managed_policies_data
    from moto.settings import load_iam_aws_managed_policies

    parsed: dict[str, dict] = {}
    parse_lock = threading.Lock()

    def data() -> dict[str, dict]:
        with parse_lock:
            if not parsed:
                parsed.update(json.loads(aws_managed_policies_data))
        return parsed

    def lazy(base, fill_name: str, methods: tuple[str, ...]):
        """A subclass of `base` whose listed methods first call `self.<fill_name>()`."""
        def wrap(name):
            original = getattr(base, name)

            def method(self, *args, **kwargs):
                getattr(self, fill_name)()
                return original(self, *args, **kwargs)
            return method
        return {name: wrap(name) for name in methods}

    list_methods = ("__iter__", "__len__", "__getitem__", "__contains__", "__reversed__", "index", "count",
                    "__repr__", "__eq__", "copy", "append", "extend", "remove", "pop", "__setitem__",
                    "__delitem__", "insert", "sort", "__add__", "__iadd__")
    dict_methods = ("__iter__", "__len__", "__getitem__", "__contains__", "__setitem__", "__delitem__", "keys",
                    "values", "items", "get", "pop", "popitem", "setdefault", "update", "copy", "__repr__",
                    "__eq__", "__reversed__")

    class LazyPolicies(list):
        def __init__(self, account_id: str, region: str) -> None:
            super().__init__()
            self._args, self._filled, self._lock = (account_id, region), False, threading.RLock()

        def _fill(self) -> None:
            if self._filled:
                return
            with self._lock:
                if not self._filled:  # filled, then marked: another thread never sees it half-built
                    list.extend(self, [iam.AWSManagedPolicy.from_data(name, *self._args, d)
                                       for name, d in data().items()])
                    self._filled = True

        locals().update(lazy(list, "_fill", list_methods))

    class LazyManagedPolicies(dict):
        def __init__(self, source: LazyPolicies) -> None:
            super().__init__()
            self._source, self._filled, self._lock = source, False, threading.RLock()

        def _fill(self) -> None:
            if self._filled:
                return
            with self._lock:
                if not self._filled:
                    for policy in self._source:
                        dict.__setitem__(self, policy.arn, policy)
                    self._filled = True

        locals().update(lazy(dict, "_fill", dict_methods))

    def init_aws(self):
        if not load_iam_aws_managed_policies():
            return []
        return LazyPolicies(self.account_id, self.region_name)

    def init_managed(self):
        if isinstance(self.aws_managed_policies, LazyPolicies):
            return LazyManagedPolicies(self.aws_managed_policies)
        return {p.arn: p for p in self.aws_managed_policies}

    iam.IAMBackend._init_aws_policies = init_aws
    iam.IAMBackend._init_managed_policies = init_managed


def attach_role_managed_policies() -> None:
    """AWS::IAM::Role's ManagedPolicyArns, which moto's CloudFormation ignores: the role came
    out with none of its managed policies (the evidence reader without SecurityAudit). An
    ARN that does not exist fails the resource, as on AWS."""
    from moto.iam import models as iam
    from moto.settings import load_iam_aws_managed_policies
    from moto.utilities.utils import get_partition

    original = iam.Role.create_from_cloudformation_json.__func__

    def create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        role = original(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
        backend = iam.iam_backends[account_id][get_partition(region_name)]
        for arn in cloudformation_json["Properties"].get("ManagedPolicyArns", []):
            if ":iam::aws:policy/" in arn and not load_iam_aws_managed_policies():
                continue  # started without AWS-managed policies (MOTO_IAM_LOAD_MANAGED_POLICIES=false)
            backend.attach_role_policy(arn, role.name)
        return role

    iam.Role.create_from_cloudformation_json = classmethod(create)
