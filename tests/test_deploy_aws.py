"""deploy/aws/setup.py against an AWS emulator (moto), then Ray's own AWS bootstrap of
cluster.yaml (what `ray up` does before it launches anything) against the same emulator: the SSH
range the user gives is the only way in, Ray leaves the group as setup.py made it, and the roles
let the head pass the workers theirs and the workers reach only the bucket."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import bench_scripts  # noqa: F401  (tests/ on sys.path: the deploy script is loaded the same way)
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
REGION, CIDR, BUCKET = "us-west-2", "198.51.100.7/32", "my-syre-bucket"


def load_setup() -> Any:
    import importlib.util

    spec = importlib.util.spec_from_file_location("deploy_aws_setup", ROOT / "deploy" / "aws" / "setup.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def aws(monkeypatch, tmp_path: Path):
    import moto

    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("HOME", str(tmp_path))  # Ray's bootstrap writes its key pair under ~/.ssh
    with moto.mock_aws():
        yield


def ray_bootstrap() -> dict[str, Any]:
    from ray.autoscaler._private.aws.config import bootstrap_aws
    from ray.autoscaler._private.util import prepare_config

    return bootstrap_aws(prepare_config(copy.deepcopy(yaml.safe_load((ROOT / "cluster.yaml").read_text()))))


def group_rules(name: str) -> list[dict[str, Any]]:
    import boto3

    ec2 = boto3.client("ec2", region_name=REGION)
    (group,) = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": [name]}])["SecurityGroups"]
    return group["IpPermissions"]


def listed(value: str | list[str]) -> list[str]:
    """A policy statement's Action or Resource, one or several, as a list."""
    return [value] if isinstance(value, str) else value


def ssh_ranges(rules: list[dict[str, Any]]) -> list[str]:
    return [r["CidrIp"] for rule in rules if rule.get("FromPort") == 22 for r in rule["IpRanges"]]


def test_setup_then_ray_up_leaves_ssh_open_to_the_given_range_only(aws, capsys) -> None:
    setup = load_setup()
    assert setup.main(["--region", REGION, "--cidr", CIDR, "--bucket", BUCKET]) == 0
    config = ray_bootstrap()
    rules = group_rules("syre-tune-sg")
    assert ssh_ranges(rules) == [CIDR]
    (inside,) = [rule for rule in rules if rule["IpProtocol"] == "-1"]
    (group_id,) = {p["GroupId"] for p in inside["UserIdGroupPairs"]}
    for name, node_type in config["available_node_types"].items():  # every node in that group, with its role
        assert node_type["node_config"]["SecurityGroupIds"] == [group_id], name
        expected = "syre-tune-head" if name == config["head_node_type"] else "syre-tune-worker"
        assert node_type["node_config"]["IamInstanceProfile"] == {"Name": expected}, name
    # run again: everything is kept, nothing opened
    assert setup.main(["--region", REGION, "--cidr", CIDR, "--bucket", BUCKET]) == 0
    assert "security group syre-tune-sg: kept" in capsys.readouterr().out
    assert ssh_ranges(group_rules("syre-tune-sg")) == [CIDR]


def test_without_setup_ray_would_open_ssh_to_everyone_and_setup_then_refuses_that_group(aws, capsys) -> None:
    """Why setup.py runs first: the group Ray makes itself lets SSH in from anywhere."""
    ray_bootstrap()
    assert "0.0.0.0/0" in ssh_ranges(group_rules("syre-tune-sg"))
    setup = load_setup()
    assert setup.main(["--region", REGION, "--cidr", CIDR, "--bucket", BUCKET]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("setup.py")]  # not Ray's logs
    assert len(err) == 1 and "lets SSH in from 0.0.0.0/0" in err[0] and "delete-security-group" in err[0], err


def test_the_head_may_pass_the_workers_their_role_and_the_workers_reach_only_the_bucket(aws) -> None:
    import boto3

    assert load_setup().main(["--region", REGION, "--cidr", CIDR, "--bucket", BUCKET]) == 0
    iam = boto3.client("iam", region_name=REGION)
    account = boto3.client("sts", region_name=REGION).get_caller_identity()["Account"]
    worker_role = iam.get_role(RoleName="syre-tune-worker")["Role"]["Arn"]
    head = iam.get_role_policy(RoleName="syre-tune-head", PolicyName="syre-tune-head")["PolicyDocument"]
    worker = iam.get_role_policy(RoleName="syre-tune-worker", PolicyName="syre-tune-worker")["PolicyDocument"]
    head, worker = (json.loads(d) if isinstance(d, str) else d for d in (head, worker))
    passes = [s for s in head["Statement"] if s["Action"] == "iam:PassRole"]
    assert [s["Resource"] for s in passes] == [worker_role] and account in worker_role
    launches = next(s for s in head["Statement"] if "ec2:RunInstances" in s["Action"])
    assert {"ec2:TerminateInstances", "ec2:CreateTags", "ec2:DescribeInstances"} <= set(launches["Action"])
    resources = {
        r for s in worker["Statement"] for r in ([s["Resource"]] if isinstance(s["Resource"], str) else s["Resource"])
    }
    assert resources == {f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"}
    actions = {a for s in worker["Statement"] for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    assert all(a.startswith("s3:") for a in actions) and "s3:PutObject" in actions
    for name in ("syre-tune-head", "syre-tune-worker"):
        (profile_role,) = iam.get_instance_profile(InstanceProfileName=name)["InstanceProfile"]["Roles"]
        assert profile_role["RoleName"] == name
    boto3.client("s3", region_name=REGION).head_bucket(Bucket=BUCKET)


@pytest.mark.parametrize("cidr", ["0.0.0.0/0", "not-an-address", "198.51.100.7/24"])
def test_a_range_that_is_everyone_or_no_range_is_refused(cidr: str, capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        load_setup().main(["--region", REGION, "--cidr", cidr, "--bucket", BUCKET])
    assert exit_.value.code == 2
    assert "--cidr" in capsys.readouterr().err
