"""deploy/kubernetes/rayjob.yaml: what it asks of KubeRay (a head without trials, token
authentication, CPU and GPU groups from zero, the node types the runner reads) and its validator.

The manifest's check against KubeRay's own RayJob CRD needs the CRD file, which is not in this
repository: `python deploy/kubernetes/validate.py ray.io_rayjobs.yaml` (docs/cluster.md). Here the
validator is tested on a small CRD of the same form."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = ROOT / "deploy" / "kubernetes" / "rayjob.yaml"


def load_validate() -> Any:
    spec = importlib.util.spec_from_file_location("deploy_k8s_validate", ROOT / "deploy" / "kubernetes" / "validate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def documents() -> dict[str, dict[str, Any]]:
    return {d["kind"]: d for d in yaml.safe_load_all(MANIFEST.read_text())}


def quantity(value: str) -> float:
    return float(value)


def test_the_head_runs_no_trials_and_authentication_is_token(documents) -> None:
    cluster = documents["RayJob"]["spec"]["rayClusterSpec"]
    assert cluster["authOptions"] == {"mode": "token"}
    assert cluster["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0"
    assert cluster["enableInTreeAutoscaling"] is True
    assert documents["RayJob"]["spec"]["shutdownAfterJobFinishes"] is True


def test_the_runner_reads_the_worker_groups_from_the_config_map(documents, tmp_path: Path, monkeypatch) -> None:
    cluster = documents["RayJob"]["spec"]["rayClusterSpec"]
    (head,) = cluster["headGroupSpec"]["template"]["spec"]["containers"]
    path = Path(next(e["value"] for e in head["env"] if e["name"] == "SYRE_TUNE_AUTOSCALER_CONFIG"))
    (mount,) = [m for m in head["volumeMounts"] if Path(m["mountPath"]) == path.parent]
    (volume,) = [v for v in cluster["headGroupSpec"]["template"]["spec"]["volumes"] if v["name"] == mount["name"]]
    config_map = documents["ConfigMap"]
    assert volume["configMap"]["name"] == config_map["metadata"]["name"]
    node_types = yaml.safe_load(config_map["data"][path.name])["available_node_types"]
    groups = {g["groupName"]: g for g in cluster["workerGroupSpecs"]}
    assert set(node_types) == set(groups)
    gpu_groups = 0
    for name, group in groups.items():
        assert group["minReplicas"] == 0  # from zero: no idle bills
        (container,) = group["template"]["spec"]["containers"]
        limits = container["resources"]["limits"]
        gpus = quantity(limits.get("nvidia.com/gpu", "0"))
        gpu_groups += gpus > 0
        declared = node_types[name]
        assert declared["resources"] == {"CPU": quantity(limits["cpu"]), **({"GPU": gpus} if gpus else {})}, name
        assert declared["max_workers"] == group["maxReplicas"], name
    assert gpu_groups == 1 and len(groups) == 2
    # what the runner makes of it: a GPU study is not refused while the GPU group is at zero, and a
    # folder on the head is refused as storage (pods on other machines could not write to it)
    from syre_tune.runner import _cluster

    local = tmp_path / "node-types.yaml"
    local.write_text(config_map["data"][path.name])
    monkeypatch.setenv("SYRE_TUNE_AUTOSCALER_CONFIG", str(local))
    assert {"CPU": 4.0, "GPU": 1.0} in _cluster._node_types()
    assert _cluster._can_add_machines()


def test_one_image_and_one_ray_version_everywhere(documents) -> None:
    cluster = documents["RayJob"]["spec"]["rayClusterSpec"]
    containers = cluster["headGroupSpec"]["template"]["spec"]["containers"] + [
        c for g in cluster["workerGroupSpecs"] for c in g["template"]["spec"]["containers"]
    ]
    assert len({c["image"] for c in containers}) == 1
    dockerfile = (ROOT / "deploy" / "docker" / "Dockerfile").read_text()
    (base,) = re.findall(r"^FROM rayproject/ray:(\d+\.\d+\.\d+)-py\d+-gpu$", dockerfile, re.M)
    cluster_file = (ROOT / "cluster.yaml").read_text()
    assert base == cluster["rayVersion"] and f'"ray[default,tune]=={base}"' in cluster_file
    entrypoint = documents["RayJob"]["spec"]["entrypoint"].split()
    study = Path(entrypoint[2])
    assert "WORKDIR /home/ray/syre-tune" in dockerfile and "COPY --chown=ray:users studies ./studies" in dockerfile
    assert study.parent.parent == Path("/home/ray/syre-tune") and (ROOT / "studies" / study.name).exists()


CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "rayjobs.ray.io"},
    "spec": {
        "group": "ray.io",
        "names": {"kind": "RayJob"},
        "versions": [
            {
                "name": "v1",
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "apiVersion": {"type": "string"},
                            "kind": {"type": "string"},
                            "metadata": {"type": "object"},
                            "spec": {
                                "type": "object",
                                "properties": {
                                    "entrypoint": {"type": "string"},
                                    "groups": {
                                        "type": "array",
                                        "items": {"type": "object", "properties": {"replicas": {"type": "integer"}}},
                                    },
                                    "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                                    "template": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                                },
                            },
                        },
                    }
                },
            }
        ],
    },
}


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"entrypoint": "x", "groups": [{"replicas": 0}], "labels": {"a": "b"}, "template": {"any": 1}}, []),
        ({"entrypoint": 3}, [".spec.entrypoint: 3 is not of type 'string'"]),
        ({"groups": [{"replica": 0}]}, [".spec.groups[0].replica: not a field of the CRD"]),
        ({"authOption": {"mode": "token"}}, [".spec.authOption: not a field of the CRD"]),
        ({"labels": {"a": 1}}, [".spec.labels.a: 1 is not of type 'string'"]),
    ],
)
def test_the_validator_reports_wrong_types_and_fields_kubernetes_would_drop(spec: dict, expected: list[str]) -> None:
    job = {"apiVersion": "ray.io/v1", "kind": "RayJob", "metadata": {"name": "j"}, "spec": spec}
    found = load_validate().problems(CRD, [job])
    assert [line.split(": ", 1)[1].replace(" (Kubernetes would drop it)", "") for line in found] == expected


def test_the_validator_wants_a_known_api_version_and_a_rayjob() -> None:
    validate = load_validate()
    assert validate.problems(CRD, [{"kind": "ConfigMap"}]) == ["no RayJob in the manifest"]
    (line,) = validate.problems(CRD, [{"apiVersion": "ray.io/v2", "kind": "RayJob", "metadata": {"name": "j"}}])
    assert "apiVersion 'ray.io/v2' is not one of ['ray.io/v1']" in line
