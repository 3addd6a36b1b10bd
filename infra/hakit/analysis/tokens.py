"""pulumi-aws type tokens the rules read (both the `lb` and the legacy `alb` modules where they exist)."""

from __future__ import annotations

RECORD = "aws:route53/record:Record"
HEALTH_CHECK = "aws:route53/healthCheck:HealthCheck"
METRIC_ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
ROUTING_CONTROL = "aws:route53recoverycontrol/routingControl:RoutingControl"
LOAD_BALANCERS = ("aws:lb/loadBalancer:LoadBalancer", "aws:alb/loadBalancer:LoadBalancer")
TARGET_GROUPS = ("aws:lb/targetGroup:TargetGroup", "aws:alb/targetGroup:TargetGroup")
LISTENERS = ("aws:lb/listener:Listener", "aws:alb/listener:Listener")
DISTRIBUTION = "aws:cloudfront/distribution:Distribution"
GLOBAL_CLUSTER = "aws:rds/globalCluster:GlobalCluster"
RDS_CLUSTER = "aws:rds/cluster:Cluster"
RDS_CLUSTER_INSTANCE = "aws:rds/clusterInstance:ClusterInstance"
RDS_INSTANCE = "aws:rds/instance:Instance"
RDS_CLUSTER_PARAMETER_GROUP = "aws:rds/clusterParameterGroup:ClusterParameterGroup"
DYNAMODB_TABLE = "aws:dynamodb/table:Table"
DYNAMODB_REPLICA = "aws:dynamodb/tableReplica:TableReplica"
DSQL_CLUSTER = "aws:dsql/cluster:Cluster"
DSQL_PEERING = "aws:dsql/clusterPeering:ClusterPeering"
BACKUP_PLAN = "aws:backup/plan:Plan"
BACKUP_VAULT = "aws:backup/vault:Vault"
BACKUP_SELECTION = "aws:backup/selection:Selection"
BUCKETS = ("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2")
BUCKET_PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
BUCKET_ACLS = ("aws:s3/bucketAcl:BucketAcl", "aws:s3/bucketAclV2:BucketAclV2")
SUBNET = "aws:ec2/subnet:Subnet"
AUTOSCALING_GROUP = "aws:autoscaling/group:Group"
FIS_TEMPLATE = "aws:fis/experimentTemplate:ExperimentTemplate"
EC2_INSTANCE = "aws:ec2/instance:Instance"
EIP = "aws:ec2/eip:Eip"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
EBS_VOLUME = "aws:ebs/volume:Volume"
EBS_DEFAULT_ENCRYPTION = "aws:ebs/encryptionByDefault:EncryptionByDefault"
EFS_FILE_SYSTEM = "aws:efs/fileSystem:FileSystem"
