"""Check deploy/kubernetes/rayjob.yaml against KubeRay's RayJob CRD, offline.

    python deploy/kubernetes/validate.py CRD.yaml [MANIFEST.yaml]

CRD.yaml is KubeRay's ``rayjobs.ray.io`` definition: ``kubectl get crd rayjobs.ray.io -o yaml`` on
a cluster with the operator, or ``helm-chart/kuberay-operator/crds/ray.io_rayjobs.yaml`` of the
KubeRay release you install. The RayJob documents of the manifest are validated with jsonschema
against the CRD's ``openAPIV3Schema`` for their ``apiVersion``, and, since Kubernetes silently drops
fields its schema does not know (a misspelt ``authOption`` would leave authentication off), every
field is also looked up in the schema. Prints one line per problem; exit 0 when there is none,
1 when there are, 2 when a file cannot be read.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import yaml

HERE = Path(__file__).resolve().parent


def schemas(crd: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The CRD's openAPIV3Schema per ``apiVersion`` (``group/version``)."""
    group = crd["spec"]["group"]
    return {f"{group}/{v['name']}": v["schema"]["openAPIV3Schema"] for v in crd["spec"]["versions"]}


def unknown_fields(value: Any, schema: dict[str, Any], where: str = "") -> Iterator[str]:
    """Paths of the fields in ``value`` that ``schema`` does not declare (what Kubernetes prunes)."""
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        return
    if isinstance(value, dict) and schema.get("type") == "object":
        declared = schema.get("properties")
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            if declared is not None and key in declared:
                yield from unknown_fields(item, declared[key], f"{where}.{key}")
            elif isinstance(extra, dict):
                yield from unknown_fields(item, extra, f"{where}.{key}")
            elif declared is not None and extra is not True:
                yield f"{where}.{key}"
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            yield from unknown_fields(item, schema["items"], f"{where}[{index}]")


def problems(crd: dict[str, Any], documents: list[dict[str, Any]]) -> list[str]:
    by_version = schemas(crd)
    kind = crd["spec"]["names"]["kind"]
    found = []
    jobs = [d for d in documents if isinstance(d, dict) and d.get("kind") == kind]
    if not jobs:
        return [f"no {kind} in the manifest"]
    for job in jobs:
        name = job.get("metadata", {}).get("name", "?")
        schema = by_version.get(job.get("apiVersion", ""))
        if schema is None:
            found.append(f"{kind} {name}: apiVersion {job.get('apiVersion')!r} is not one of {sorted(by_version)}")
            continue
        for error in jsonschema.Draft7Validator(schema).iter_errors(job):
            path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
            found.append(f"{kind} {name}: {path or '.'}: {error.message}")
        found += [f"{kind} {name}: {path}: not a field of the CRD (Kubernetes would drop it)" for path in
                  unknown_fields(job, schema)]  # fmt: skip
    return found


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not 1 <= len(args) <= 2:
        print("usage: validate.py CRD.yaml [MANIFEST.yaml]", file=sys.stderr)
        return 2
    manifest = Path(args[1]) if len(args) == 2 else HERE / "rayjob.yaml"
    try:
        crd = yaml.safe_load(Path(args[0]).read_text())
        documents = list(yaml.safe_load_all(manifest.read_text()))
    except (OSError, yaml.YAMLError) as error:
        print(f"validate.py: cannot read {error}", file=sys.stderr)
        return 2
    found = problems(crd, documents)
    for line in found:
        print(line)
    if not found:
        print(f"{manifest.name}: valid against {crd['metadata']['name']} ({', '.join(schemas(crd))})")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
