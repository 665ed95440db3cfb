"""Registering CloudFormation resource types with moto's CloudFormation, and keeping the
registered models alive."""

from __future__ import annotations

#: moto finds CloudFormation models through `__subclasses__()`, which holds them weakly:
#: the models added here are kept alive by this list.
_MODELS: list[type] = []


def cfn_model(resource_type: str, create, attributes: dict[str, str] | None = None, physical: str = "id",
              delete=None):
    """Register a CloudFormation model for `resource_type` whose creation calls the moto
    backend (`create(props, account_id, region) -> object`); `attributes` maps Fn::GetAtt
    names to attributes of that object, `physical` names its Ref value; `delete(object,
    account_id, region)`, when given, removes it when its stack (or the resource) goes."""
    from moto.core.common_models import CloudFormationModel

    attrs = dict(attributes or {})

    class Model(CloudFormationModel):
        def __init__(self, obj) -> None:
            self.obj = obj

        @staticmethod
        def cloudformation_type() -> str:
            return resource_type

        @staticmethod
        def cloudformation_name_type() -> str:
            return ""

        @property
        def physical_resource_id(self) -> str:
            return str(getattr(self.obj, physical))

        @classmethod
        def has_cfn_attr(cls, attr: str) -> bool:
            return attr in attrs

        def get_cfn_attribute(self, attribute_name: str):
            return getattr(self.obj, attrs[attribute_name])

        @classmethod
        def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name,
                                            **kwargs):
            return cls(create(cloudformation_json.get("Properties", {}), account_id, region_name, resource_name))

        def delete(self, account_id: str, region_name: str) -> None:
            if delete is not None:
                delete(self.obj, account_id, region_name)

    Model.__name__ = resource_type.replace("::", "")
    _MODELS.append(Model)
    return Model
