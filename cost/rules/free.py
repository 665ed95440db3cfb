"""Resource types AWS does not bill for by themselves, with the reason.

Anything a type costs through use is priced on the resource that drives the use (a
Lambda permission's invocations on the function, a WAF association's requests on the web
ACL). A type neither priced by a rule nor listed here shows up as an unknown line.
"""

from __future__ import annotations

from ..engine import free

free("no charge for the resource", *(
    "AWS::IAM::Role", "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::InstanceProfile",
    "AWS::EC2::VPC", "AWS::EC2::Subnet", "AWS::EC2::RouteTable", "AWS::EC2::Route", "AWS::EC2::InternetGateway",
    "AWS::EC2::VPCGatewayAttachment", "AWS::EC2::NetworkAcl", "AWS::EC2::NetworkAclEntry",
    "AWS::EC2::SubnetRouteTableAssociation", "AWS::EC2::SubnetNetworkAclAssociation", "AWS::EC2::SecurityGroup",
    "AWS::EC2::SecurityGroupIngress", "AWS::EC2::SecurityGroupEgress",
    "AWS::KMS::Alias", "AWS::S3::BucketPolicy", "AWS::SNS::TopicPolicy", "AWS::SQS::QueuePolicy",
    "AWS::Logs::ResourcePolicy", "AWS::CloudFormation::WaitConditionHandle", "AWS::CloudFormation::WaitCondition",
    "AWS::Organizations::Account", "AWS::Organizations::OrganizationalUnit", "AWS::Organizations::Policy",
    "AWS::SSO::PermissionSet", "AWS::SSO::Assignment",
    "AWS::Config::DeliveryChannel", "AWS::Config::ConfigurationAggregator",
    "AWS::SecurityHub::OrganizationConfiguration", "AWS::SecurityHub::FindingAggregator",
    "AWS::Lambda::Permission", "AWS::Lambda::Version", "AWS::Lambda::LayerVersion", "AWS::Lambda::EventInvokeConfig",
    "AWS::ApiGateway::Account", "AWS::ApiGateway::ApiKey", "AWS::ApiGateway::Authorizer", "AWS::ApiGateway::Deployment",
    "AWS::ApiGateway::Method", "AWS::ApiGateway::Model", "AWS::ApiGateway::RequestValidator",
    "AWS::ApiGateway::Resource", "AWS::ApiGateway::RestApi", "AWS::ApiGateway::UsagePlan",
    "AWS::ApiGateway::UsagePlanKey", "AWS::ApiGateway::DomainName", "AWS::ApiGateway::BasePathMapping",
    "AWS::ApiGatewayV2::Api", "AWS::ApiGatewayV2::Authorizer", "AWS::ApiGatewayV2::Deployment",
    "AWS::ApiGatewayV2::Integration", "AWS::ApiGatewayV2::Route",
    "AWS::ApplicationAutoScaling::ScalableTarget", "AWS::ApplicationAutoScaling::ScalingPolicy",
    "AWS::Backup::BackupPlan", "AWS::Backup::BackupSelection",
    "AWS::Bedrock::AgentAlias", "AWS::Bedrock::DataSource", "AWS::Bedrock::GuardrailVersion",
    "AWS::OpenSearchServerless::AccessPolicy", "AWS::OpenSearchServerless::SecurityPolicy",
    "AWS::OpenSearchServerless::Index",
    "AWS::CloudFront::OriginAccessControl", "AWS::CloudFront::ResponseHeadersPolicy",
    "AWS::WAFv2::LoggingConfiguration", "AWS::WAFv2::WebACLAssociation",
    "AWS::CodeDeploy::Application", "AWS::CodeDeploy::DeploymentGroup",
    "AWS::SageMaker::ModelPackageGroup", "AWS::Cognito::UserPoolClient", "AWS::Cognito::UserPoolDomain",
    "AWS::Cognito::UserPoolGroup", "AWS::Cognito::IdentityPool", "AWS::Cognito::IdentityPoolRoleAttachment",
    "AWS::SNS::Subscription", "AWS::SecretsManager::RotationSchedule",
))
free("no charge: budgets without actions and Cost Anomaly Detection are free", *(
    "AWS::Budgets::Budget", "AWS::CE::AnomalyMonitor", "AWS::CE::AnomalySubscription"))
free("no charge: AWS service events and schedules are free on the default event bus", "AWS::Events::Rule")
free("billed per request (SNS $0.50 per million publishes, SQS $0.40 per million requests, Pipes $0.40 per "
     "million); alert, dead-letter and audit traffic stays far below a cent a month", *(
    "AWS::SNS::Topic", "AWS::SQS::Queue", "AWS::Pipes::Pipe"))
free("no charge for the custom resource; its Lambda function is priced (invoked only during deploys)",
     "Custom::AccountBaseline", "Custom::DefaultSecurityGroupClosed")
