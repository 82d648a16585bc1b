"""Shared helpers for the deployment tests: chart rendering with the real Helm engine (the Go SDK
embedded in helm-python-sdk), value sets, and walking the rendered objects. No cluster, no Docker.
"""

from __future__ import annotations

import copy
import pathlib
from dataclasses import dataclass, field
from typing import Any, Iterator

import pytest
import yaml

import helm_python as helm

REPO = pathlib.Path(__file__).resolve().parents[2]
CHART = REPO / "helm" / "shellgate"
DEPLOY = REPO / "deploy"

RELEASE = "shellgate"
NAMESPACE = "shellgate"
FULLNAME = "shellgate"  # the release name contains the chart name

# Recognisable fake key material: the tests look for these strings in the rendered output.
VAULT_PUBLIC_KEY = ("PUBLICpublic" * 4)[:43] + "="  # base64 of 32 bytes, as keygen prints
VAULT_SECRET_KEY = ("SECRETsecret" * 4)[:43] + "="
DATABASE_URL = "postgres://shellgate:db-password-canary@db.example.internal:5432/shellgate"

BASE_VALUES: dict[str, Any] = {
    "externalNats": {"url": "nats://nats.nats.svc.cluster.local:4222"},
    "secrets": {
        "databaseUrl": {"value": DATABASE_URL},
        "vaultPublicKey": {"value": VAULT_PUBLIC_KEY},
        "vaultSecretKey": {"value": VAULT_SECRET_KEY},
    },
}


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Deep merge (override wins); lists are replaced, like Helm does with -f files."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def values(**override: Any) -> dict[str, Any]:
    return merge(BASE_VALUES, override)


# The value sets every generic test runs against.
SCENARIOS: dict[str, dict[str, Any]] = {
    "defaults": values(),
    "two-pools": values(
        executor={
            "pools": [
                {"name": "default"},
                {
                    "name": "private-dc",
                    "replicas": 3,
                    "nodeSelector": {"topology.kubernetes.io/zone": "dc1"},
                    "tolerations": [
                        {"key": "zone", "operator": "Equal", "value": "dc1", "effect": "NoSchedule"}
                    ],
                    "resources": {"requests": {"cpu": "500m", "memory": "256Mi"}},
                    "autoscaling": {"maxReplicas": 20},
                    "serviceAccount": {"annotations": {"iam.example.com/role": "executor-dc1"}},
                    "networkPolicy": {
                        "restrictEgress": True,
                        "egress": [
                            {
                                "to": [{"ipBlock": {"cidr": "10.20.0.0/16"}}],
                                "ports": [{"protocol": "TCP", "port": 443}],
                            }
                        ],
                    },
                },
            ]
        }
    ),
    "existing-secrets": merge(
        {k: v for k, v in BASE_VALUES.items() if k != "secrets"},
        {
            "externalNats": {"url": "", "existingSecret": "nats-client", "existingSecretKey": "url"},
            "secrets": {
                "databaseUrl": {"existingSecret": "pg-credentials", "existingSecretKey": "url"},
                # Both vault keys in one Secret: each pod may still only reference its own key.
                "vaultPublicKey": {"existingSecret": "sg-vault", "existingSecretKey": "public"},
                "vaultSecretKey": {"existingSecret": "sg-vault", "existingSecretKey": "secret"},
                "sessionSecret": {"existingSecret": "sg-approver", "existingSecretKey": "session"},
                "notifierKey": {"existingSecret": "sg-approver", "existingSecretKey": "notifier"},
                "adminBootstrapKey": {"existingSecret": "sg-approver", "existingSecretKey": "bootstrap"},
            },
        },
    ),
    "ingress": values(
        ingress={
            "enabled": True,
            "className": "nginx",
            "annotations": {"nginx.ingress.kubernetes.io/proxy-buffering": "off"},
            "gateway": {"host": "agents.example.com", "tlsSecretName": "agents-tls"},
            "approver": {
                "host": "shellgate.example.com",
                "tlsSecretName": "dashboard-tls",
                "annotations": {"nginx.ingress.kubernetes.io/whitelist-source-range": "10.0.0.0/8"},
            },
        }
    ),
    "hpa-off": values(
        gateway={"autoscaling": {"enabled": False}, "replicas": 3},
        executor={"autoscaling": {"enabled": False}, "replicas": 4},
    ),
    "metrics": values(
        metrics={"podAnnotations": True, "serviceMonitor": {"enabled": True}},
        executor={"networkPolicy": {"metricsFrom": [{"podSelector": {}}]}},
        config={"extraEnv": {"SHELLGATE_MAX_BODY_BYTES": "1048576"}},
    ),
}


@dataclass
class Rendered:
    """One render of the chart: raw files and the parsed objects."""

    values: dict[str, Any]
    files: dict[str, str]
    objects: list[dict[str, Any]] = field(default_factory=list)

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [o for o in self.objects if o.get("kind") == kind]

    def named(self, kind: str, name: str) -> dict[str, Any]:
        found = [o for o in self.of_kind(kind) if o["metadata"]["name"] == name]
        assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
        return found[0]

    def notes(self) -> str:
        return next((v for k, v in self.files.items() if k.endswith("NOTES.txt")), "")

    def workloads(self) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
        """(object, pod spec) for everything that runs pods."""
        for o in self.objects:
            kind = o.get("kind")
            if kind in ("Deployment", "StatefulSet", "DaemonSet", "Job", "ReplicaSet"):
                yield o, o["spec"]["template"]["spec"]
            elif kind == "CronJob":
                yield o, o["spec"]["jobTemplate"]["spec"]["template"]["spec"]
            elif kind == "Pod":
                yield o, o["spec"]


def render(vals: dict[str, Any], *, name: str = RELEASE, namespace: str = NAMESPACE) -> Rendered:
    """Render with a FRESH chart each time: Chart.render() mutates the loaded chart."""
    with helm.Chart.load(str(CHART)) as chart:
        chart.validate_schema(vals)
        files = chart.render(vals, name=name, namespace=namespace, is_install=True)
    rendered = Rendered(values=vals, files=files)
    for path, text in sorted(files.items()):
        if not path.endswith((".yaml", ".yml")):
            continue
        for doc in yaml.safe_load_all(text):
            if doc:
                assert isinstance(doc, dict) and "kind" in doc, f"{path}: not a Kubernetes object"
                rendered.objects.append(doc)
    return rendered


def render_error(vals: dict[str, Any]) -> str:
    """Render expecting failure; returns the error message."""
    with helm.Chart.load(str(CHART)) as chart:
        with pytest.raises(helm.HelmError) as info:
            chart.render(vals, name=RELEASE, namespace=NAMESPACE, is_install=True)
    return str(info.value)


_cache: dict[str, Rendered] = {}


@pytest.fixture(params=sorted(SCENARIOS), scope="session")
def scenario(request: pytest.FixtureRequest) -> tuple[str, Rendered]:
    name = request.param
    if name not in _cache:
        _cache[name] = render(SCENARIOS[name])
    return name, _cache[name]


def role_of(obj: dict[str, Any]) -> str:
    labels = obj["spec"]["template"]["metadata"]["labels"] if "template" in obj.get("spec", {}) else {}
    return labels.get("app.kubernetes.io/component", "")


def containers(pod: dict[str, Any]) -> list[dict[str, Any]]:
    return list(pod.get("initContainers", [])) + list(pod.get("containers", []))


def env_value(container: dict[str, Any], name: str) -> Any:
    for e in container.get("env", []):
        if e["name"] == name:
            return e.get("value", e.get("valueFrom"))
    return None
