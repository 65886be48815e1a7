"""Create, once per AWS account and region, what ``cluster.yaml`` names before the first ``ray up``:

- the security group ``syre-tune-sg``: SSH (22) only from ``--cidr``, and every port between the
  cluster's own nodes. Ray leaves a group that already has rules as it is; one it creates itself
  would also get SSH from 0.0.0.0/0, which is why this runs first;
- the bucket ``--bucket`` for ``--storage s3://BUCKET/...`` (kept if it exists);
- the IAM roles and instance profiles ``syre-tune-head`` (head-policy.json: launch and stop the
  workers, pass them their role, read the image's SSM parameter, the bucket) and
  ``syre-tune-worker`` (worker-policy.json: the bucket only).

    python deploy/aws/setup.py --region us-west-2 --cidr 198.51.100.7/32 --bucket my-syre-bucket

Run it with credentials allowed to create security groups, buckets and IAM roles (an
administrator's, once). What exists already is kept and said; the policies are (re)written, so
running it again with another bucket moves both roles to that bucket. Nothing else is changed.
A bad argument or an AWS error: one line on stderr, exit 2.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
GROUP = "syre-tune-sg"
ROLES = {"syre-tune-head": "head-policy.json", "syre-tune-worker": "worker-policy.json"}


class SetupError(RuntimeError):
    """One line for the user."""


def policy(name: str, **values: str) -> str:
    """A policy file of this folder with ``${ACCOUNT}``, ``${REGION}`` and ``${BUCKET}`` filled in."""
    text = (HERE / name).read_text()
    for key, value in values.items():
        text = text.replace("${" + key + "}", value)
    if "${" in text:
        raise SetupError(f"{name}: a placeholder was left unfilled")
    return json.dumps(json.loads(text))


def cidr(text: str) -> str:
    try:
        network = ipaddress.ip_network(text, strict=True)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"not an address range: {error}") from None
    if network.prefixlen == 0:
        raise argparse.ArgumentTypeError(f"{text} is the whole internet: give the range you connect from")
    return str(network)


def security_group(ec2: Any, allowed: str, say: Any) -> str:
    found = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": [GROUP]}])["SecurityGroups"]
    if found:
        group = found[0]
        ssh = [r for p in group["IpPermissions"] if p.get("FromPort") == 22 for r in p.get("IpRanges", [])]
        open_to_all = [r["CidrIp"] for r in ssh if r["CidrIp"] == "0.0.0.0/0"]
        if open_to_all:
            raise SetupError(
                f"security group {GROUP} ({group['GroupId']}) lets SSH in from 0.0.0.0/0 (Ray made it?): "
                f"delete it (aws ec2 delete-security-group --group-id {group['GroupId']}) and run this again"
            )
        say(f"security group {GROUP}: kept ({group['GroupId']}, SSH from {', '.join(r['CidrIp'] for r in ssh)})")
        return group["GroupId"]
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
    if not vpcs:
        raise SetupError("this region has no default VPC, where Ray launches the nodes: create one first")
    group_id = ec2.create_security_group(
        GroupName=GROUP, Description="syre-tune: SSH from one range, all between nodes", VpcId=vpcs[0]["VpcId"]
    )["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=group_id,
        IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": allowed}]},
            {"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": group_id}]},
        ],
    )
    say(f"security group {GROUP}: created ({group_id}, SSH from {allowed} only)")
    return group_id


def bucket(s3: Any, name: str, region: str, say: Any) -> None:
    from botocore.exceptions import ClientError

    try:
        s3.head_bucket(Bucket=name)
        say(f"bucket {name}: kept")
        return
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket"):
            raise SetupError(f"bucket {name} exists but this account cannot use it ({error})") from None
    where = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
    s3.create_bucket(Bucket=name, **where)
    say(f"bucket {name}: created in {region}")


def role(iam: Any, name: str, document: str, say: Any) -> None:
    trust = policy("trust-policy.json")
    existing = {r["RoleName"] for r in iam.list_roles()["Roles"]}
    if name not in existing:
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust, Description="syre-tune cluster node")
    iam.put_role_policy(RoleName=name, PolicyName=name, PolicyDocument=document)
    profiles = {p["InstanceProfileName"]: p for p in iam.list_instance_profiles()["InstanceProfiles"]}
    if name not in profiles:
        iam.create_instance_profile(InstanceProfileName=name)
        profiles[name] = {"Roles": []}
    if name not in {r["RoleName"] for r in profiles[name]["Roles"]}:
        iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=name)
    say(f"role and instance profile {name}: {'kept' if name in existing else 'created'}, policy written")


def main(argv: list[str] | None = None, session: Any = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--region", required=True, help="the region of cluster.yaml (provider.region)")
    parser.add_argument("--cidr", required=True, type=cidr, help="the range you connect from, e.g. 198.51.100.7/32")
    parser.add_argument("--bucket", required=True, help="the bucket of --storage s3://BUCKET/...")
    args = parser.parse_args(argv)

    def say(line: str) -> None:
        print(line, flush=True)

    try:
        import boto3
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:
        print("setup.py: needs boto3 (pip install boto3)", file=sys.stderr)
        return 2
    session = session or boto3.session.Session(region_name=args.region)
    try:
        account = session.client("sts").get_caller_identity()["Account"]
        security_group(session.client("ec2"), args.cidr, say)
        bucket(session.client("s3"), args.bucket, args.region, say)
        iam = session.client("iam")
        for name, file in ROLES.items():
            role(iam, name, policy(file, ACCOUNT=account, REGION=args.region, BUCKET=args.bucket), say)
    except SetupError as error:
        print(f"setup.py: {error}", file=sys.stderr)
        return 2
    except (BotoCoreError, ClientError) as error:
        print(f"setup.py: AWS refused: {error}", file=sys.stderr)
        return 2
    say(f"done: in cluster.yaml set provider.region to {args.region}, then `ray up cluster.yaml`")
    return 0


if __name__ == "__main__":
    sys.exit(main())
