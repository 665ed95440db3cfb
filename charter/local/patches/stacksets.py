"""StackSets and their instances as AWS makes them: service-managed targets, instances that
are real stacks, parameters with overrides, updates that reach every instance's stack."""

from __future__ import annotations

from charter.local.patches.stack_update import update_stack


def patch_service_managed_stacksets() -> None:
    """StackSet instances as AWS makes them (moto 5.2.1 differs in several ways):

    - AWS never deploys a service-managed instance to the organization's management
      account, even when the target is Root; moto did, colliding with the management stacks.
    - AWS reaches every account in the target OUs' whole subtree; moto only one level down.
    - AWS honours DeploymentTargets.Accounts with AccountFilterType (INTERSECTION,
      DIFFERENCE, UNION) and never duplicates an existing instance; moto ignored both, and
      its UpdateStackInstances read only `Accounts`, so an update addressed by
      DeploymentTargets (the only way for service-managed StackSets) changed nothing.
    - Each instance is a real stack in its account and region (named StackSet-<name>-<id>),
      so its Outputs' exports are importable there and it sees the exports of the stacks
      already in that account; moto's was hidden, without exports or imports.
    - An instance's parameters are the StackSet's, overridden by its ParameterOverrides;
      moto used the overrides alone (or the StackSet's alone when there were none).
    - UpdateStackInstances and UpdateStackSet update each instance's stack with the current
      template and parameters (see `update_stack`); moto only recorded the new values, so
      a VPC whose CIDR comes from an override was never created.
    An instance whose stack fails is reported by the instance (DetailedStatus FAILED and
    the reason), not as an error of the whole CreateStackInstances call, and is created
    (or updated) again by UpdateStackInstances (how deploy retries it).
    """
    from moto.cloudformation import models as cfn
    from moto.cloudformation.responses import CloudFormationResponse
    from moto.core.responses import ActionResult
    from moto.moto_api._internal import mock_random

    def init(self, account_id, region_name, stackset_id, stack_name, name, template, parameters,
             permission_model, defaults=None):
        self.account_id, self.region_name, self.stackset_id = account_id, region_name, stackset_id
        self.stack_name, self.name, self.template = stack_name, name, template
        # moto hands over the StackSet's own parameters (a dict) when no overrides were given
        self.parameters = parameters if isinstance(parameters, list) else []
        self.permission_model = permission_model
        self.status, self.detailed, self.reason = "CURRENT", "SUCCEEDED", ""
        prefix = "StackSet:" if permission_model == "SELF_MANAGED" else "StackSet-"
        suffix = "" if permission_model == "SELF_MANAGED" else f"-{mock_random.uuid4()}"
        self.stack = None
        backend = cfn.cloudformation_backends[account_id][region_name]
        stack_name = f"{prefix}{name}{suffix}"
        try:
            self.stack = backend.create_stack(name=stack_name, template=template,
                                              parameters=_effective_parameters(defaults, self.parameters))
            if self.stack.status == "ROLLBACK_COMPLETE":
                failure = RuntimeError(self.stack.rollback_reason)
                failure.charter_reason = self.stack.rollback_reason
                raise failure
        except Exception as exc:  # noqa: BLE001 - the instance fails, as on AWS
            self.stack = None
            self._failed(exc)
            # AWS rolls a failed creation back: what was made goes, so a retry can make it again
            for stack_id, stack in list(backend.stacks.items()):
                if stack.name == stack_name:
                    try:
                        stack.delete()
                    except Exception:  # noqa: BLE001, S110 - best effort, like a rollback that cannot delete
                        pass
                    backend.stacks.pop(stack_id, None)
                    for export in [e for e in backend.exports.values() if e.exporting_stack_id == stack_id]:
                        backend.exports.pop(export.name, None)

    def failed(self, exc: Exception) -> None:
        self.status, self.detailed = "OUTDATED", "FAILED"
        reason = f"{type(exc).__name__}: {getattr(exc, 'message', None) or exc}"
        if hasattr(exc, "charter_resource"):  # which resource, as AWS's instance status says
            reason = f"{exc.charter_resource[0]}: {reason}"
        self.reason = getattr(exc, "charter_reason", None) or reason

    def delete(self):
        if self.stack is not None:
            cfn.cloudformation_backends[self.account_id][self.region_name].delete_stack(self.stack.stack_id)

    def to_dict(self):
        out = {"StackId": self.stack.stack_id if self.stack is not None else cfn.generate_stack_id(
                   self.stack_name, self.region_name, self.account_id),
               "StackSetId": self.stackset_id, "Region": self.region_name, "Account": self.account_id,
               "Status": self.status, "ParameterOverrides": self.parameters,
               "StackInstanceStatus": {"DetailedStatus": self.detailed}}
        if self.reason:
            out["StatusReason"] = self.reason
        return out

    def targets(self, accounts, deployment_targets, permission_model) -> list[str]:
        """The accounts a Create/UpdateStackInstances call addresses, as AWS resolves them."""
        if permission_model != "SERVICE_MANAGED" or not deployment_targets:
            return list(dict.fromkeys(accounts))
        org = self.org_backend
        ous = set(deployment_targets.get("OrganizationalUnitIds", []))
        grew = True
        while grew:  # the whole subtree of every target OU
            below = {ou.id for ou in org.ou if ou.parent_id in ous}
            grew = not below <= ous
            ous |= below
        in_ous = [a.id for a in org.accounts if a.parent_id in ous]
        named = list(deployment_targets.get("Accounts", []) or [])
        how = deployment_targets.get("AccountFilterType", "NONE" if not named else "INTERSECTION")
        found = {"INTERSECTION": [a for a in in_ous if a in named],
                 "DIFFERENCE": [a for a in in_ous if a not in named],
                 "UNION": in_ous + [a for a in named if a not in in_ous]}.get(how, in_ous)
        management = org.org.master_account_id if org.org else None
        return [a for a in dict.fromkeys(found) if a != management]

    def create_instances(self, accounts, regions, parameters, deployment_targets, permission_model):
        found = self.targets(accounts, deployment_targets, permission_model)
        have = {(i.account_id, i.region_name) for i in self.stack_instances}
        new = [cfn.StackInstance(account_id=a, region_name=r, stackset_id=self.stackset_id,
                                 stack_name=self.stack_name, name=self.stackset_name, template=self.template,
                                 parameters=parameters, permission_model=permission_model,
                                 defaults=self.parameters)
               for r in regions for a in found if (a, r) not in have]
        self.stack_instances += new
        return [i.to_dict() for i in new]

    def update(self, accounts, regions, parameters):
        """UpdateStackInstances (`parameters`: the new overrides, None to keep them) and the
        instance side of UpdateStackSet: each addressed instance's stack is brought to the
        StackSet's current template with its parameters; one that has no stack (its creation
        failed and was rolled back) is created again."""
        for instance in self.stack_instances:
            if instance.account_id not in accounts or instance.region_name not in regions:
                continue
            if parameters is not None:
                previous = {p["ParameterKey"]: p for p in instance.parameters}
                instance.parameters = [previous[p["ParameterKey"]] if p.get("UsePreviousValue") else p
                                       for p in parameters
                                       if not p.get("UsePreviousValue") or p["ParameterKey"] in previous]
            if instance.stack is None:
                instance.__init__(instance.account_id, instance.region_name, instance.stackset_id,
                                  instance.stack_name, instance.name, self.template, instance.parameters,
                                  instance.permission_model, defaults=self.parameters)
                continue
            instance.template = self.template
            try:
                update_stack(cfn.cloudformation_backends[instance.account_id][instance.region_name],
                              instance.stack, self.template, _effective_parameters(self.parameters, instance.parameters))
            except Exception as exc:  # noqa: BLE001 - the instance fails, as on AWS
                instance._failed(exc)
            else:
                instance.status, instance.detailed, instance.reason = "CURRENT", "SUCCEEDED", ""

    def stackset_update(self, template, description, parameters, tags, admin_role, execution_role, accounts,
                        regions, operation_id):
        self.template = template or self.template
        self.description = description if description is not None else self.description
        self.parameters = parameters or self.parameters
        self.tags = tags or self.tags
        self.administration_role_arn = admin_role or self.administration_role_arn
        self.execution_role_name = execution_role or self.execution_role_name
        self.instances.template, self.instances.parameters = self.template, self.parameters
        # without Accounts/Regions, AWS updates every existing instance of the StackSet
        accounts = accounts or [i.account_id for i in self.stack_instances]
        regions = regions or [i.region_name for i in self.stack_instances]
        self.instances.update(accounts, regions, None)
        return self._create_operation(operation_id=operation_id, action="UPDATE", status="SUCCEEDED",
                                      accounts=accounts, regions=regions)

    def update_stack_instances_call(self):
        name = self._get_param("StackSetName")
        stackset = self.cloudformation_backend.describe_stack_set(name)
        accounts = stackset.instances.targets(self._get_param("Accounts", []),
                                              self._get_params().get("DeploymentTargets"),
                                              stackset.permission_model)
        # absent: keep each instance's overrides; present (even empty): they become the list
        overrides = self._get_params().get("ParameterOverrides")
        operation = self.cloudformation_backend.update_stack_instances(
            name, accounts, self._get_param("Regions", []), overrides)
        return ActionResult({"OperationId": operation["OperationId"]})

    cfn.StackInstance.__init__ = init
    cfn.StackInstance._failed = failed
    cfn.StackInstance.delete = delete
    cfn.StackInstance.to_dict = to_dict
    cfn.StackInstances.targets = targets
    cfn.StackInstances.create_instances = create_instances
    cfn.StackInstances.update = update
    cfn.StackSet.update = stackset_update
    CloudFormationResponse.update_stack_instances = update_stack_instances_call


def _effective_parameters(defaults: dict[str, str] | None, overrides: list[dict]) -> dict[str, str]:
    """A StackSet instance's parameters: the StackSet's, each overridden by the instance's."""
    values = dict(defaults or {})
    values.update({p["ParameterKey"]: p["ParameterValue"] for p in overrides if "ParameterValue" in p})
    return values
