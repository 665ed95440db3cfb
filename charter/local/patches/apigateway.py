"""AWS::ApiGateway::Method in moto's CloudFormation as AWS defines it."""

from __future__ import annotations


def patch_api_gateway_method() -> None:
    """AWS::ApiGateway::Method as CloudFormation defines it: moto 5.2.1 required
    Integration.IntegrationHttpMethod and Uri, which a MOCK integration has neither of
    (KeyError, HTTP 500), and dropped the integration's request templates, the integration
    responses and the method responses."""
    from moto.apigateway import models as apigw

    def create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        props = cloudformation_json["Properties"]
        api, resource, verb = props["RestApiId"], props["ResourceId"], props["HttpMethod"]
        backend = apigw.apigateway_backends[account_id][region_name]
        method = backend.put_method(function_id=api, resource_id=resource, method_type=verb,
                                    authorization_type=props.get("AuthorizationType", "NONE"),
                                    api_key_required=props.get("ApiKeyRequired"),
                                    request_parameters=props.get("RequestParameters"),
                                    request_models=props.get("RequestModels"),
                                    operation_name=props.get("OperationName"),
                                    authorizer_id=props.get("AuthorizerId"),
                                    authorization_scopes=props.get("AuthorizationScopes"),
                                    request_validator_id=props.get("RequestValidatorId"))
        for response in props.get("MethodResponses", []):
            backend.put_method_response(api, resource, verb, str(response["StatusCode"]),
                                        response.get("ResponseModels"), response.get("ResponseParameters"))
        integration = props.get("Integration")
        if integration:
            backend.put_integration(
                function_id=api, resource_id=resource, method_type=verb, integration_type=integration["Type"],
                uri=integration.get("Uri"), integration_method=integration.get("IntegrationHttpMethod"),
                credentials=integration.get("Credentials"), request_templates=integration.get("RequestTemplates"),
                passthrough_behavior=integration.get("PassthroughBehavior"),
                cache_namespace=integration.get("CacheNamespace"),
                timeout_in_millis=integration.get("TimeoutInMillis"),
                request_parameters=integration.get("RequestParameters"),
                content_handling=integration.get("ContentHandling"),
                connection_type=integration.get("ConnectionType"))
            for response in integration.get("IntegrationResponses", []):
                backend.put_integration_response(api, resource, verb, str(response["StatusCode"]),
                                                 response.get("SelectionPattern"), response.get("ResponseTemplates"),
                                                 response.get("ResponseParameters"), response.get("ContentHandling"))
        return method

    apigw.Method.create_from_cloudformation_json = classmethod(create)
