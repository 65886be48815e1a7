"""cluster.yaml: checked with Ray's own cluster-launcher validation, offline.

`prepare_config` fills in the provider's defaults (as `ray up` does before it validates) and
`validate_config` checks the result against Ray's JSON schema plus a few cross-field rules. Neither
contacts a cloud: the AWS bootstrap (IAM, subnets, security groups, boto3) is never called.
"""

from __future__ import annotations

import copy
import ipaddress
import shlex
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from ray.autoscaler._private.util import prepare_config, validate_config

ROOT = Path(__file__).resolve().parents[1]
CLUSTER = ROOT / "cluster.yaml"
BEGIN = "# --- on-premises variant (begin) ---"
END = "# --- on-premises variant (end) ---"


def ray_validate(config: dict[str, Any]) -> dict[str, Any]:
    """What `ray up` does to the file before it touches the provider; returns the filled config."""
    prepared = prepare_config(copy.deepcopy(config))
    validate_config(prepared)
    return prepared


def variant_text(text: str) -> str:
    """The on-premises block between the markers, uncommented by dropping each line's "# "."""
    lines = text.splitlines()
    assert lines.count(BEGIN) == 1 and lines.count(END) == 1
    block = lines[lines.index(BEGIN) + 1 : lines.index(END)]
    assert block
    for line in block:
        assert line.startswith("# "), f"on-premises variant line is not prefixed by '# ': {line!r}"
    return "\n".join(line[2:] for line in block) + "\n"


@pytest.fixture(scope="module")
def aws() -> dict[str, Any]:
    return yaml.safe_load(CLUSTER.read_text())


@pytest.fixture(scope="module")
def onprem() -> dict[str, Any]:
    return yaml.safe_load(variant_text(CLUSTER.read_text()))


def test_aws_file_validates(aws: dict[str, Any]) -> None:
    prepared = ray_validate(aws)
    assert prepared["provider"]["type"] == "aws"
    assert prepared["provider"]["cache_stopped_nodes"] is False
    assert prepared["head_node_type"] in prepared["available_node_types"]


def test_on_premises_variant_validates(aws: dict[str, Any], onprem: dict[str, Any]) -> None:
    provider = onprem["provider"]
    assert provider["type"] == "local"
    ipaddress.ip_address(provider["head_ip"])
    assert provider["worker_ips"] and all(ipaddress.ip_address(ip) for ip in provider["worker_ips"])
    assert {"ssh_user", "ssh_private_key"} <= set(onprem["auth"])
    prepared = ray_validate(onprem)
    assert prepared["max_workers"] == len(provider["worker_ips"])
    for key in ("file_mounts", "setup_commands", "head_start_ray_commands", "worker_start_ray_commands"):
        assert onprem[key] == aws[key], key


def test_trials_run_on_workers_cpu_ones_and_gpu_ones(aws: dict[str, Any]) -> None:
    types = aws["available_node_types"]
    head = types[aws["head_node_type"]]
    assert head["resources"] == {"CPU": 0}  # the driver and the autoscaler only: no trial lands there
    workers = {name: t for name, t in types.items() if name != aws["head_node_type"]}
    gpu = [t for t in workers.values() if t["resources"].get("GPU", 0) >= 1]
    cpu = [t for t in workers.values() if t["resources"].get("GPU", 0) == 0]
    assert gpu and cpu  # CPU studies start CPU workers, not GPU ones
    for worker in workers.values():
        assert worker["min_workers"] == 0  # autoscaled from zero: no idle bills
        assert 1 <= worker["max_workers"] <= aws["max_workers"]
        assert worker["resources"]["CPU"] >= 1
        assert worker["node_config"]["IamInstanceProfile"] == {"Name": "syre-tune-worker"}  # the bucket
    assert head["node_config"]["IamInstanceProfile"] == {"Name": "syre-tune-head"}
    assert aws["idle_timeout_minutes"] >= 10  # longer than a new worker's setup


def start_commands(commands: list[str]) -> list[list[str]]:
    return [shlex.split(c) for c in commands if "ray start" in c]


def start_flags(commands: list[str]) -> dict[str, str]:
    (start,) = [argv for argv in start_commands(commands) if "--head" in argv]
    return dict(token.split("=", 1) for token in start if token.startswith("--") and "=" in token)


@pytest.mark.parametrize("variant", ["aws", "onprem"])
def test_dashboard_is_bound_to_localhost(variant: str, request: pytest.FixtureRequest) -> None:
    config = request.getfixturevalue(variant)
    assert start_flags(config["head_start_ray_commands"])["--dashboard-host"] == "127.0.0.1"
    others = [c for key, cs in config.items() if key.endswith("_commands") for c in cs if "dashboard-host" in c]
    assert len(others) == 1, others


@pytest.mark.parametrize("variant", ["aws", "onprem"])
def test_token_authentication_is_on_for_every_node_and_the_shell(variant: str, request: pytest.FixtureRequest) -> None:
    config = request.getfixturevalue(variant)
    starts = start_commands(config["head_start_ray_commands"] + config["worker_start_ray_commands"])
    assert len(starts) == 2 and all(argv[0] == "RAY_AUTH_MODE=token" for argv in starts), starts
    assert config["file_mounts"]["~/.ray/auth_token"] == "~/.ray/auth_token"  # the token, to every node
    (bashrc,) = [c for c in config["setup_commands"] if "bashrc" in c]
    assert "'export RAY_AUTH_MODE=token'" in bashrc and "'source ~/venv/bin/activate'" in bashrc


def test_security_group_is_the_one_setup_py_makes(aws: dict[str, Any]) -> None:
    """Ray adds SSH from 0.0.0.0/0 to a group it creates, whatever IpPermissions say: the group is
    made beforehand by deploy/aws/setup.py (tested against an AWS emulator in test_deploy_aws.py)."""
    assert aws["provider"]["security_group"] == {"GroupName": "syre-tune-sg"}
    text = (ROOT / "deploy" / "aws" / "setup.py").read_text()
    assert 'GROUP = "syre-tune-sg"' in text
    for name, node_type in aws["available_node_types"].items():
        # A node type with its own SecurityGroupIds would bypass the group above.
        assert "SecurityGroupIds" not in node_type["node_config"], name


def test_setup_commands_install_this_package_into_a_venv(aws: dict[str, Any]) -> None:
    assert 'name = "syre-tune"' in (ROOT / "pyproject.toml").read_text().splitlines()
    mounted = [remote for remote, local in aws["file_mounts"].items() if Path(local) == Path(".")]
    assert mounted, "the repository root is not file-mounted"
    installs = [shlex.split(c) for c in aws["setup_commands"] if "pip install" in c]
    assert installs and all(argv[0] == "~/venv/bin/pip" and "--user" not in argv for argv in installs), installs
    editable = [argv[argv.index("-e") + 1] for argv in installs if "-e" in argv]
    assert set(editable) & set(mounted), (editable, mounted)
    pins = [arg for argv in installs for arg in argv if arg.startswith("ray[")]
    assert pins and all("==" in pin and "default" in pin for pin in pins), pins
    (torch,) = [argv for argv in installs if any(arg.startswith("torch==") for arg in argv)]
    assert torch[torch.index("--index-url") + 1].startswith("https://download.pytorch.org/whl/cu")
    assert any("torch.cuda.is_available()" in c and "nvidia-smi" in c for c in aws["setup_commands"])


BROKEN = [
    ("max_workers: not an integer", lambda c: c.update(max_workers="many"), jsonschema.ValidationError),
    ("unknown top-level key", lambda c: c.update(max_worker=8), jsonschema.ValidationError),
    ("fractional resource", lambda c: c["available_node_types"]["gpu_worker"]["resources"].update(GPU=0.5), None),
    ("unknown security_group key", lambda c: c["provider"]["security_group"].update(VpcId="vpc-1"), None),
    ("node type without resources", lambda c: c["available_node_types"]["head"].pop("resources"), None),
    ("head_node_type not a node type", lambda c: c.update(head_node_type="cpu_head"), ValueError),
]


@pytest.mark.parametrize(("case", "breaks", "error"), BROKEN, ids=[case for case, _, _ in BROKEN])
def test_validator_rejects_a_broken_copy(aws: dict[str, Any], case: str, breaks: Any, error: Any) -> None:
    broken = copy.deepcopy(aws)
    breaks(broken)
    with pytest.raises(error or jsonschema.ValidationError):
        ray_validate(broken)
