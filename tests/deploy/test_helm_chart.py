"""The Helm chart, rendered offline by Helm's own engine and validated against the Kubernetes
OpenAPI schemas: structure, security properties and failure messages."""

from __future__ import annotations

import base64
import re
from typing import Any

import kubernetes_validate
import pytest
import yaml

import helm_python as helm

from conftest import (
    BASE_VALUES,
    CHART,
    DATABASE_URL,
    FULLNAME,
    SCENARIOS,
    VAULT_PUBLIC_KEY,
    VAULT_SECRET_KEY,
    Rendered,
    containers,
    env_value,
    merge,
    render,
    render_error,
    role_of,
    values,
)

KUBE_VERSIONS = ("1.25.0", "1.33.0")  # the chart's minimum and a current one
CUSTOM_GROUPS = ("monitoring.coreos.com/",)  # CRDs: no schema in kubernetes-validate


def pools_of(vals: dict[str, Any]) -> list[str]:
    pools = vals.get("executor", {}).get("pools")
    return [p["name"] for p in pools] if pools else ["default"]


def secret_ref(vals: dict[str, Any], item: str, chart_name: str) -> tuple[str, str]:
    cfg = vals["secrets"].get(item, {})
    if cfg.get("existingSecret"):
        return cfg["existingSecret"], cfg["existingSecretKey"]
    return chart_name, item


def pod_secret_uses(pod: dict[str, Any]) -> list[tuple[str, str | None, str]]:
    """Every way a pod reads a Secret: (secret name, key or None for all keys, how)."""
    uses: list[tuple[str, str | None, str]] = []
    for c in containers(pod):
        for e in c.get("env", []):
            ref = (e.get("valueFrom") or {}).get("secretKeyRef")
            if ref:
                uses.append((ref["name"], ref["key"], f"env {e['name']}"))
        for src in c.get("envFrom", []):
            if "secretRef" in src:
                uses.append((src["secretRef"]["name"], None, "envFrom"))
    for v in pod.get("volumes", []):
        if "secret" in v:
            items = v["secret"].get("items")
            keys = [i["key"] for i in items] if items else [None]
            uses += [(v["secret"]["secretName"], k, f"volume {v['name']}") for k in keys]
        for src in (v.get("projected") or {}).get("sources", []):
            if "secret" in src:
                items = src["secret"].get("items")
                keys = [i["key"] for i in items] if items else [None]
                uses += [(src["secret"]["name"], k, f"projected volume {v['name']}") for k in keys]
    return uses


# --------------------------------------------------------------------------------------------
# Chart metadata, lint, schema


def test_chart_metadata() -> None:
    meta = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert meta["apiVersion"] == "v2"
    assert meta["name"] == "shellgate"
    assert meta["kubeVersion"] == ">=1.25.0-0"
    nats = [d for d in meta.get("dependencies", []) if d["name"] == "nats"]
    assert nats and nats[0]["condition"] == "nats.enabled"
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())
    assert defaults["nats"]["enabled"] is False, "the NATS subchart cannot be fetched offline"
    assert defaults["nats"]["config"]["jetstream"]["enabled"] is True
    assert defaults["networkPolicy"]["enabled"] is True
    assert defaults["metrics"]["serviceMonitor"]["enabled"] is False
    assert defaults["metrics"]["podAnnotations"] is False


def test_values_keys_are_camel_case() -> None:
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())
    bad: list[str] = []

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                if not re.fullmatch(r"[a-z][a-zA-Z0-9]*", str(k)):
                    bad.append(f"{path}.{k}")
                walk(v, f"{path}.{k}")
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{path}[{i}]")

    walk(defaults, "")
    assert not bad, f"values keys not in camelCase: {bad}"


@pytest.mark.parametrize("name", ["defaults", "two-pools", "existing-secrets", "ingress"])
def test_helm_lint_has_no_errors(name: str) -> None:
    report = helm.lint(str(CHART), SCENARIOS[name], kube_version="v1.33.0", with_subcharts=True)
    errors = [m for m in report["messages"] if m["severity"] >= 3] + report.get("errors", [])
    assert not errors, errors
    warnings = [m["error"] for m in report["messages"] if m["severity"] == 2]
    # The only accepted warning: the optional NATS chart is declared but not vendored.
    assert all("missing these dependencies: nats" in w for w in warnings), warnings


@pytest.mark.parametrize(
    "bad, where",
    [
        ({"config": {"logFormat": "xml"}}, "/config/logFormat"),
        ({"gatway": {"replicas": 2}}, "gatway"),
        ({"gateway": {"replicaCount": 2}}, "replicaCount"),
        ({"executor": {"pools": [{"name": "Private_DC"}]}}, "/executor/pools/0/name"),
        ({"executor": {"pools": []}}, "/executor/pools"),
        ({"secrets": {"vaultSecretKey": {"value": "not-a-key"}}}, "/secrets/vaultSecretKey"),
        ({"secrets": {"databaseUrl": {"value": "mysql://x"}}}, "/secrets/databaseUrl"),
        ({"image": {"pullPolicy": "Sometimes"}}, "/image/pullPolicy"),
        ({"config": {"extraEnv": {"max_body": "1"}}}, "max_body"),
        ({"networkPolicy": {"enabled": "yes"}}, "/networkPolicy/enabled"),
        ({"config": {"trustedProxies": ["ingress.local"]}}, "/config/trustedProxies/0"),
        ({"config": {"trustedProxies": "10.0.0.0/8"}}, "/config/trustedProxies"),
    ],
)
def test_schema_rejects_bad_values(bad: dict[str, Any], where: str) -> None:
    with helm.Chart.load(str(CHART)) as chart:
        with pytest.raises(helm.HelmValuesError) as info:
            chart.validate_schema(merge(BASE_VALUES, bad))
    assert where in str(info.value)


def test_every_scenario_passes_the_schema() -> None:
    for name, vals in SCENARIOS.items():
        with helm.Chart.load(str(CHART)) as chart:
            chart.validate_schema(vals)  # raises on failure


# --------------------------------------------------------------------------------------------
# Every rendered object is valid Kubernetes


def test_manifests_validate_against_kubernetes_schemas(scenario: tuple[str, Rendered]) -> None:
    name, r = scenario
    assert r.objects, f"{name}: nothing rendered"
    for obj in r.objects:
        if obj["apiVersion"].startswith(CUSTOM_GROUPS):
            continue
        for version in KUBE_VERSIONS:
            try:
                kubernetes_validate.validate(obj, version, strict=True)
            except kubernetes_validate.ValidationError as e:
                raise AssertionError(
                    f"{name}: {obj['kind']}/{obj['metadata']['name']} invalid for {version}: {e.message}"
                ) from e


def test_objects_have_unique_names_and_labels(scenario: tuple[str, Rendered]) -> None:
    _, r = scenario
    seen = set()
    for obj in r.objects:
        key = (obj["apiVersion"], obj["kind"], obj["metadata"]["name"])
        assert key not in seen, f"duplicate {key}"
        seen.add(key)
        labels = obj["metadata"].get("labels", {})
        assert labels.get("app.kubernetes.io/instance") == "shellgate", key
        assert len(obj["metadata"]["name"]) <= 253


# --------------------------------------------------------------------------------------------
# Secrets: the vault secret key reaches executors only


def test_vault_secret_key_only_in_executor_pods(scenario: tuple[str, Rendered]) -> None:
    name, r = scenario
    vault_secret = secret_ref(r.values, "vaultSecretKey", f"{FULLNAME}-vault-secret-key")
    executors_with_key = 0
    for obj, pod in r.workloads():
        role = role_of(obj)
        for c in containers(pod):
            names = [e["name"] for e in c.get("env", [])]
            if "SHELLGATE_VAULT_SECRET_KEY" in names:
                assert role == "executor", f"{name}: {obj['metadata']['name']} gets the vault secret key"
        for secret, key, how in pod_secret_uses(pod):
            if secret != vault_secret[0]:
                continue
            reads_secret_key = key is None or key == vault_secret[1]
            if reads_secret_key:
                assert role == "executor", (
                    f"{name}: {obj['kind']} {obj['metadata']['name']} ({role}) reads the vault "
                    f"secret key through {how}"
                )
                assert how.startswith("env"), "executors take the key as one env var"
                executors_with_key += 1
    assert executors_with_key == len(pools_of(r.values)), "every executor pool gets the key"


def test_vault_secret_key_value_only_in_its_own_secret(scenario: tuple[str, Rendered]) -> None:
    name, r = scenario
    encoded = base64.b64encode(VAULT_SECRET_KEY.encode()).decode()
    holders = []
    for path, text in r.files.items():
        assert VAULT_SECRET_KEY not in text, f"{name}: the raw vault secret key is in {path}"
    for obj in r.of_kind("Secret"):
        if encoded in yaml.safe_dump(obj):
            holders.append(obj["metadata"]["name"])
            assert set(obj["data"]) == {"vaultSecretKey"}, "the vault secret key shares its Secret"
    if r.values["secrets"]["vaultSecretKey"].get("existingSecret"):
        assert holders == []
    else:
        assert holders == [f"{FULLNAME}-vault-secret-key"]


def test_vault_public_key_only_in_approver_pods(scenario: tuple[str, Rendered]) -> None:
    name, r = scenario
    pub = secret_ref(r.values, "vaultPublicKey", f"{FULLNAME}-approver")
    readers = []
    for obj, pod in r.workloads():
        for secret, key, _ in pod_secret_uses(pod):
            if secret == pub[0] and key in (None, pub[1]):
                readers.append(role_of(obj))
        for c in containers(pod):
            if any(e["name"] == "SHELLGATE_VAULT_PUBLIC_KEY" for e in c.get("env", [])):
                assert role_of(obj) == "approver", name
    assert readers == ["approver"], f"{name}: {readers}"


def test_each_role_gets_exactly_its_secrets(scenario: tuple[str, Rendered]) -> None:
    name, r = scenario
    expected = {
        "gateway": {"SHELLGATE_DATABASE_URL"},
        "approver": {
            "SHELLGATE_DATABASE_URL",
            "SHELLGATE_VAULT_PUBLIC_KEY",
            "SHELLGATE_SESSION_SECRET",
            "SHELLGATE_NOTIFIER_KEY",
            "SHELLGATE_ADMIN_BOOTSTRAP_KEY",
        },
        "executor": {"SHELLGATE_DATABASE_URL", "SHELLGATE_VAULT_SECRET_KEY"},
        "migrate": {"SHELLGATE_DATABASE_URL"},
    }
    if r.values.get("externalNats", {}).get("existingSecret"):
        for role in ("gateway", "approver", "executor"):
            expected[role] = expected[role] | {"SHELLGATE_NATS_URL"}
    for obj, pod in r.workloads():
        role = role_of(obj)
        from_secrets = {
            e["name"]
            for c in containers(pod)
            for e in c.get("env", [])
            if "secretKeyRef" in (e.get("valueFrom") or {})
        }
        assert from_secrets == expected[role], f"{name}: {obj['metadata']['name']}: {from_secrets}"
        assert not any("secretRef" in s for c in containers(pod) for s in c.get("envFrom", []))
        assert not any("secret" in v or "projected" in v for v in pod.get("volumes", []))


def test_secret_values_never_leak_into_non_secret_objects(scenario: tuple[str, Rendered]) -> None:
    name, r = scenario
    canaries = [VAULT_SECRET_KEY, VAULT_PUBLIC_KEY, DATABASE_URL, "db-password-canary"]
    for obj in r.objects:
        if obj["kind"] == "Secret":
            continue
        text = yaml.safe_dump(obj)
        for canary in canaries:
            assert canary not in text, f"{name}: {obj['kind']} {obj['metadata']['name']} holds a secret"


def test_chart_made_secrets_in_defaults() -> None:
    r = render(SCENARIOS["defaults"])
    secrets = {s["metadata"]["name"]: s for s in r.of_kind("Secret")}
    assert set(secrets) == {
        f"{FULLNAME}-database",
        f"{FULLNAME}-vault-secret-key",
        f"{FULLNAME}-approver",
    }
    db = secrets[f"{FULLNAME}-database"]
    assert base64.b64decode(db["data"]["databaseUrl"]).decode() == DATABASE_URL
    approver = secrets[f"{FULLNAME}-approver"]
    assert set(approver["data"]) == {"vaultPublicKey", "sessionSecret", "notifierKey", "adminBootstrapKey"}
    notifier_key = base64.b64decode(base64.b64decode(approver["data"]["notifierKey"]))
    assert len(notifier_key) == 32, "the generated notifier key is 32 random bytes, base64"
    session = base64.b64decode(base64.b64decode(approver["data"]["sessionSecret"]))
    assert len(session) == 64, "the generated session secret is 64 random bytes, base64"
    bootstrap = base64.b64decode(approver["data"]["adminBootstrapKey"]).decode()
    assert re.fullmatch(r"sga_[0-9a-f]{64}", bootstrap), bootstrap
    again = render(SCENARIOS["defaults"]).named("Secret", f"{FULLNAME}-approver")
    assert again["data"]["sessionSecret"] != approver["data"]["sessionSecret"], "random per install"
    assert again["data"]["notifierKey"] != approver["data"]["notifierKey"], "random per install"


def test_existing_secrets_create_no_chart_secrets() -> None:
    r = render(SCENARIOS["existing-secrets"])
    assert r.of_kind("Secret") == []
    gw = r.named("Deployment", f"{FULLNAME}-gateway")["spec"]["template"]["spec"]["containers"][0]
    assert env_value(gw, "SHELLGATE_DATABASE_URL") == {
        "secretKeyRef": {"name": "pg-credentials", "key": "url"}
    }
    assert env_value(gw, "SHELLGATE_NATS_URL") == {"secretKeyRef": {"name": "nats-client", "key": "url"}}


def test_given_session_secret_and_bootstrap_key_are_used() -> None:
    session = base64.b64encode(bytes(range(64))).decode()
    r = render(values(secrets={"sessionSecret": {"value": session}, "adminBootstrapKey": {"value": "sga_" + "a" * 64}}))
    data = r.named("Secret", f"{FULLNAME}-approver")["data"]
    assert base64.b64decode(data["sessionSecret"]).decode() == session
    assert base64.b64decode(data["adminBootstrapKey"]).decode() == "sga_" + "a" * 64


# --------------------------------------------------------------------------------------------
# Failures with helpful messages


def test_missing_vault_secret_key_fails_with_help() -> None:
    vals = merge(BASE_VALUES, {})
    del vals["secrets"]["vaultSecretKey"]
    message = render_error(vals)
    assert "secrets.vaultSecretKey" in message
    assert "shellgate keygen" in message
    assert "existingSecret" in message


def test_missing_vault_public_key_fails_with_help() -> None:
    vals = merge(BASE_VALUES, {})
    del vals["secrets"]["vaultPublicKey"]
    message = render_error(vals)
    assert "secrets.vaultPublicKey" in message and "shellgate keygen" in message


def test_missing_database_url_fails_with_help() -> None:
    vals = merge(BASE_VALUES, {})
    del vals["secrets"]["databaseUrl"]
    message = render_error(vals)
    assert "secrets.databaseUrl" in message and "postgres://" in message


def test_missing_nats_fails_with_help() -> None:
    message = render_error(values(externalNats={"url": ""}))
    assert "externalNats.url" in message and "JetStream" in message


def test_enabled_nats_without_the_subchart_fails_with_help() -> None:
    message = render_error(values(nats={"enabled": True}))
    assert "helm dependency update" in message


def test_no_values_at_all_fails() -> None:
    message = render_error({})
    assert "secrets." in message or "externalNats" in message


def test_grace_period_shorter_than_drain_fails() -> None:
    message = render_error(values(shutdown={"terminationGracePeriodSeconds": 20}))
    assert "terminationGracePeriodSeconds" in message


def test_reserved_settings_in_extra_env_fail() -> None:
    message = render_error(values(config={"extraEnv": {"SHELLGATE_VAULT_SECRET_KEY": "x"}}))
    assert "config.extraEnv.SHELLGATE_VAULT_SECRET_KEY" in message
    message = render_error(
        values(gateway={"extraEnv": [{"name": "SHELLGATE_VAULT_SECRET_KEY", "value": "x"}]})
    )
    assert "executors only" in message


def test_duplicate_pool_fails() -> None:
    message = render_error(values(executor={"pools": [{"name": "a"}, {"name": "a"}]}))
    assert "listed twice" in message


def test_ingress_needs_hosts() -> None:
    message = render_error(values(ingress={"enabled": True, "gateway": {"host": "a.example.com"}}))
    assert "ingress.approver.host" in message


# --------------------------------------------------------------------------------------------
# Pods: security context, probes, shutdown


def test_every_container_is_locked_down(scenario: tuple[str, Rendered]) -> None:
    name, r = scenario
    workloads = list(r.workloads())
    assert workloads
    for obj, pod in workloads:
        where = f"{name}: {obj['kind']} {obj['metadata']['name']}"
        psc = pod.get("securityContext", {})
        assert pod.get("automountServiceAccountToken") is False, where
        assert pod.get("enableServiceLinks") is False, f"{where}: service links add SHELLGATE_* env vars"
        assert pod.get("hostNetwork") is not True and pod.get("hostPID") is not True, where
        for c in containers(pod):
            csc = c.get("securityContext", {})
            run_as_non_root = csc.get("runAsNonRoot", psc.get("runAsNonRoot"))
            run_as_user = csc.get("runAsUser", psc.get("runAsUser"))
            seccomp = csc.get("seccompProfile", psc.get("seccompProfile", {}))
            assert run_as_non_root is True, where
            assert run_as_user == 10001, where
            assert csc.get("readOnlyRootFilesystem") is True, where
            assert csc.get("allowPrivilegeEscalation") is False, where
            assert csc.get("privileged") is not True, where
            assert "ALL" in csc.get("capabilities", {}).get("drop", []), where
            assert not csc.get("capabilities", {}).get("add"), where
            assert seccomp.get("type") == "RuntimeDefault", where
            assert c["image"].startswith("shellgate:"), where


def test_deployments_have_probes_and_graceful_shutdown(scenario: tuple[str, Rendered]) -> None:
    name, r = scenario
    config = r.named("ConfigMap", f"{FULLNAME}-config")["data"]
    drain_ms = int(config["SHELLGATE_SHUTDOWN_GRACE_MS"])
    deployments = r.of_kind("Deployment")
    assert len(deployments) == 2 + len(pools_of(r.values))
    for d in deployments:
        where = f"{name}: {d['metadata']['name']}"
        pod = d["spec"]["template"]["spec"]
        (c,) = pod["containers"]
        port = c["ports"][0]
        assert port["name"] == "http"
        assert c["livenessProbe"]["httpGet"]["path"] == "/health", where
        assert c["readinessProbe"]["httpGet"]["path"] == "/ready", where
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            assert c[probe]["httpGet"]["port"] in ("http", port["containerPort"]), where
        pre_stop = c["lifecycle"]["preStop"]["exec"]["command"]
        assert pre_stop[0].endswith("sleep"), where
        pre_stop_ms = int(pre_stop[1]) * 1000
        grace_ms = pod["terminationGracePeriodSeconds"] * 1000
        assert grace_ms > pre_stop_ms + drain_ms, f"{where}: grace {grace_ms} <= drain"
        assert c.get("resources", {}).get("requests"), f"{where}: no resource requests"
        mounts = {m["mountPath"] for m in c.get("volumeMounts", [])}
        assert "/tmp" in mounts, f"{where}: read-only root needs a writable /tmp"


def test_roles_listen_on_all_interfaces_with_their_ports(scenario: tuple[str, Rendered]) -> None:
    name, r = scenario
    expected = {
        "gateway": ("SHELLGATE_GATEWAY_LISTEN", 8080),
        "approver": ("SHELLGATE_APPROVER_LISTEN", 8081),
        "executor": ("SHELLGATE_EXECUTOR_LISTEN", 8082),
    }
    for d in r.of_kind("Deployment"):
        role = role_of(d)
        var, port = expected[role]
        (c,) = d["spec"]["template"]["spec"]["containers"]
        assert c["args"] == [role], name
        assert env_value(c, var) == f"0.0.0.0:{port}", name
        assert c["ports"][0]["containerPort"] == port
        nats = env_value(c, "SHELLGATE_NATS_URL")
        assert nats, f"{name}: {role} has no NATS URL"
        assert c["envFrom"] == [{"configMapRef": {"name": f"{FULLNAME}-config"}}]


def test_configmap_carries_settings() -> None:
    r = render(SCENARIOS["metrics"])
    data = r.named("ConfigMap", f"{FULLNAME}-config")["data"]
    assert data["SHELLGATE_LOG_FORMAT"] == "json"
    assert data["SHELLGATE_SHUTDOWN_GRACE_MS"] == "25000"
    assert data["SHELLGATE_MAX_BODY_BYTES"] == "1048576"
    assert all(k.startswith("SHELLGATE_") for k in data)
    # SSH settings, with the binary's defaults, and settable through config.ssh.
    assert data["SHELLGATE_SSH_MAX_TIMEOUT_SECS"] == "60"
    assert data["SHELLGATE_SSH_OUTPUT_CAP_BYTES"] == "1048576"
    assert data["SHELLGATE_SSH_MAX_SESSIONS_PER_CONNECTION"] == "8"
    tuned = render(merge(SCENARIOS["metrics"], {"config": {"ssh": {"maxTimeoutSecs": 600}}}))
    assert tuned.named("ConfigMap", f"{FULLNAME}-config")["data"]["SHELLGATE_SSH_MAX_TIMEOUT_SECS"] == "600"
    # Trusted proxies: none by default; a list becomes one comma-separated setting.
    assert data["SHELLGATE_TRUSTED_PROXIES"] == ""
    proxied = render(merge(SCENARIOS["metrics"], {"config": {"trustedProxies": ["10.0.0.0/8", "fd00::/8"]}}))
    assert proxied.named("ConfigMap", f"{FULLNAME}-config")["data"]["SHELLGATE_TRUSTED_PROXIES"] == "10.0.0.0/8,fd00::/8"
    # Pods roll when the config changes.
    changed = render(merge(SCENARIOS["metrics"], {"config": {"extraEnv": {"SHELLGATE_MAX_BODY_BYTES": "2"}}}))
    before = r.named("Deployment", f"{FULLNAME}-gateway")["spec"]["template"]["metadata"]["annotations"]
    after = changed.named("Deployment", f"{FULLNAME}-gateway")["spec"]["template"]["metadata"]["annotations"]
    assert before["checksum/config"] != after["checksum/config"]


# --------------------------------------------------------------------------------------------
# Executor pools, autoscaling, disruption budgets


def test_one_executor_deployment_per_pool(scenario: tuple[str, Rendered]) -> None:
    name, r = scenario
    executors = [d for d in r.of_kind("Deployment") if role_of(d) == "executor"]
    by_pool = {}
    for d in executors:
        (c,) = d["spec"]["template"]["spec"]["containers"]
        pool = env_value(c, "SHELLGATE_EXECUTOR_POOL")
        assert pool not in by_pool, f"{name}: two Deployments for pool {pool}"
        by_pool[pool] = d
        assert d["metadata"]["name"] == f"{FULLNAME}-executor-{pool}"
        assert d["spec"]["selector"]["matchLabels"]["shellgate/pool"] == pool
        assert d["spec"]["template"]["metadata"]["labels"]["shellgate/pool"] == pool
    assert sorted(by_pool) == sorted(pools_of(r.values))


def test_pool_overrides_apply_to_that_pool_only() -> None:
    r = render(SCENARIOS["two-pools"])
    dc = r.named("Deployment", f"{FULLNAME}-executor-private-dc")["spec"]["template"]["spec"]
    default = r.named("Deployment", f"{FULLNAME}-executor-default")["spec"]["template"]["spec"]
    assert dc["nodeSelector"] == {"topology.kubernetes.io/zone": "dc1"}
    assert dc["tolerations"][0]["value"] == "dc1"
    assert dc["containers"][0]["resources"] == {"requests": {"cpu": "500m", "memory": "256Mi"}}
    assert "nodeSelector" not in default and "tolerations" not in default
    assert default["containers"][0]["resources"]["limits"]["memory"] == "512Mi"
    hpa = r.named("HorizontalPodAutoscaler", f"{FULLNAME}-executor-private-dc")["spec"]
    assert hpa["maxReplicas"] == 20 and hpa["minReplicas"] == 2, "autoscaling merged with defaults"
    sa = r.named("ServiceAccount", f"{FULLNAME}-executor-private-dc")
    assert sa["metadata"]["annotations"] == {"iam.example.com/role": "executor-dc1"}
    assert dc["serviceAccountName"] == f"{FULLNAME}-executor-private-dc"


def test_a_pool_can_turn_autoscaling_off() -> None:
    r = render(values(executor={"pools": [{"name": "default"}, {"name": "edge", "replicas": 1, "autoscaling": {"enabled": False}}]}))
    names = {h["metadata"]["name"] for h in r.of_kind("HorizontalPodAutoscaler")}
    assert names == {f"{FULLNAME}-gateway", f"{FULLNAME}-executor-default"}
    assert r.named("Deployment", f"{FULLNAME}-executor-edge")["spec"]["replicas"] == 1


def test_hpas_follow_the_toggle(scenario: tuple[str, Rendered]) -> None:
    name, r = scenario
    hpas = {h["spec"]["scaleTargetRef"]["name"]: h for h in r.of_kind("HorizontalPodAutoscaler")}
    gateway_on = r.values.get("gateway", {}).get("autoscaling", {}).get("enabled", True)
    executor_on = r.values.get("executor", {}).get("autoscaling", {}).get("enabled", True)
    expected = set()
    if gateway_on:
        expected.add(f"{FULLNAME}-gateway")
    if executor_on:
        expected |= {f"{FULLNAME}-executor-{p}" for p in pools_of(r.values)}
    assert set(hpas) == expected, name
    for h in hpas.values():
        assert h["apiVersion"] == "autoscaling/v2"
        assert h["spec"]["scaleTargetRef"]["kind"] == "Deployment"
        assert h["spec"]["minReplicas"] <= h["spec"]["maxReplicas"]
        assert h["spec"]["metrics"], "an HPA needs a metric"
    for d in r.of_kind("Deployment"):
        scaled = d["metadata"]["name"] in hpas
        assert ("replicas" in d["spec"]) != scaled, (
            f"{name}: {d['metadata']['name']}: replicas must be left to the HPA when it exists"
        )
    if name == "hpa-off":
        assert r.named("Deployment", f"{FULLNAME}-gateway")["spec"]["replicas"] == 3
        assert r.named("Deployment", f"{FULLNAME}-executor-default")["spec"]["replicas"] == 4


def test_pod_disruption_budgets_cover_every_deployment(scenario: tuple[str, Rendered]) -> None:
    name, r = scenario
    pdbs = r.of_kind("PodDisruptionBudget")
    for d in r.of_kind("Deployment"):
        labels = d["spec"]["template"]["metadata"]["labels"]
        matching = [
            p
            for p in pdbs
            if p["spec"]["selector"]["matchLabels"].items() <= labels.items()
        ]
        assert len(matching) == 1, f"{name}: {d['metadata']['name']} has {len(matching)} PDBs"
        assert matching[0]["apiVersion"] == "policy/v1"


# --------------------------------------------------------------------------------------------
# Migrations


def test_migration_job_is_a_pre_install_and_pre_upgrade_hook(scenario: tuple[str, Rendered]) -> None:
    name, r = scenario
    (job,) = r.of_kind("Job")
    ann = job["metadata"]["annotations"]
    assert set(ann["helm.sh/hook"].split(",")) == {"pre-install", "pre-upgrade"}, name
    assert set(ann["helm.sh/hook-delete-policy"].split(",")) == {"before-hook-creation", "hook-succeeded"}
    pod = job["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    assert c["args"] == ["migrate"]
    assert pod["restartPolicy"] in ("Never", "OnFailure")
    # The database Secret must exist before the job: either the user's, or an earlier hook.
    ref = env_value(c, "SHELLGATE_DATABASE_URL")["secretKeyRef"]
    if r.values["secrets"]["databaseUrl"].get("existingSecret"):
        assert ref["name"] == r.values["secrets"]["databaseUrl"]["existingSecret"]
    else:
        secret = r.named("Secret", ref["name"])
        sann = secret["metadata"]["annotations"]
        assert "pre-install" in sann["helm.sh/hook"] and "pre-upgrade" in sann["helm.sh/hook"]
        assert int(sann["helm.sh/hook-weight"]) < int(ann.get("helm.sh/hook-weight", "0"))
    # Hooks run before the release's ServiceAccounts exist.
    assert pod.get("serviceAccountName", "default") == "default"


def test_migrations_can_be_turned_off() -> None:
    r = render(values(migrations={"enabled": False}))
    assert r.of_kind("Job") == []


# --------------------------------------------------------------------------------------------
# Services, Ingress, monitoring


def test_services_select_their_pods(scenario: tuple[str, Rendered]) -> None:
    name, r = scenario
    deployments = {role_of(d): d for d in r.of_kind("Deployment") if role_of(d) != "executor"}
    for role, port in (("gateway", 8080), ("approver", 8081)):
        svc = r.named("Service", f"{FULLNAME}-{role}")
        labels = deployments[role]["spec"]["template"]["metadata"]["labels"]
        assert svc["spec"]["selector"].items() <= labels.items(), name
        assert svc["spec"]["ports"][0]["targetPort"] == "http"
        assert svc["spec"]["ports"][0]["port"] == port
    executor_services = [s for s in r.of_kind("Service") if s["metadata"]["name"].endswith("-executor")]
    if r.values.get("metrics", {}).get("serviceMonitor", {}).get("enabled"):
        (svc,) = executor_services
        assert svc["spec"]["clusterIP"] == "None", "executors get a headless Service only"
    else:
        assert executor_services == [], "executors take no traffic through a Service"


def test_ingress_has_separate_hosts_for_agents_and_people() -> None:
    r = render(SCENARIOS["ingress"])
    ingresses = {i["metadata"]["name"]: i for i in r.of_kind("Ingress")}
    assert set(ingresses) == {f"{FULLNAME}-gateway", f"{FULLNAME}-approver"}
    gw, ap = ingresses[f"{FULLNAME}-gateway"], ingresses[f"{FULLNAME}-approver"]
    assert gw["spec"]["rules"][0]["host"] == "agents.example.com"
    assert ap["spec"]["rules"][0]["host"] == "shellgate.example.com"
    for ing, role in ((gw, "gateway"), (ap, "approver")):
        backend = ing["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
        assert backend["name"] == f"{FULLNAME}-{role}"
        assert ing["spec"]["ingressClassName"] == "nginx"
        assert ing["spec"]["tls"][0]["hosts"] == [ing["spec"]["rules"][0]["host"]]
        assert ing["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-buffering"] == "off"
    assert "whitelist-source-range" in str(ap["metadata"]["annotations"])
    assert "whitelist-source-range" not in str(gw["metadata"]["annotations"])
    assert "https://shellgate.example.com" in r.notes()
    assert render(SCENARIOS["defaults"]).of_kind("Ingress") == []


def test_metrics_toggles() -> None:
    off = render(SCENARIOS["defaults"])
    assert off.of_kind("ServiceMonitor") == []
    for d in off.of_kind("Deployment"):
        assert "prometheus.io/scrape" not in d["spec"]["template"]["metadata"].get("annotations", {})
    on = render(SCENARIOS["metrics"])
    monitors = {m["metadata"]["name"]: m for m in on.of_kind("ServiceMonitor")}
    assert set(monitors) == {f"{FULLNAME}-{role}" for role in ("gateway", "approver", "executor")}
    for m in monitors.values():
        assert m["apiVersion"] == "monitoring.coreos.com/v1"
        assert m["spec"]["endpoints"][0]["path"] == "/metrics"
        assert m["spec"]["endpoints"][0]["port"] == "http"
    for d in on.of_kind("Deployment"):
        ann = d["spec"]["template"]["metadata"]["annotations"]
        port = d["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"]
        assert ann["prometheus.io/scrape"] == "true" and ann["prometheus.io/port"] == str(port)


# --------------------------------------------------------------------------------------------
# NetworkPolicies


def _policies_for(r: Rendered, labels: dict[str, str]) -> list[dict[str, Any]]:
    return [
        p
        for p in r.of_kind("NetworkPolicy")
        if p["spec"]["podSelector"].get("matchLabels", {}).items() <= labels.items()
    ]


def _ports(rule: dict[str, Any]) -> set[int]:
    return {p["port"] for p in rule.get("ports", [])}


def test_network_policies_cover_every_role(scenario: tuple[str, Rendered]) -> None:
    name, r = scenario
    for d in r.of_kind("Deployment"):
        labels = d["spec"]["template"]["metadata"]["labels"]
        policies = _policies_for(r, labels)
        assert len(policies) == 1, f"{name}: {d['metadata']['name']} is selected by {len(policies)} policies"
        assert "Ingress" in policies[0]["spec"]["policyTypes"]


def test_gateways_reach_only_dns_nats_and_postgres(scenario: tuple[str, Rendered]) -> None:
    name, r = scenario
    (policy,) = _policies_for(r, r.named("Deployment", f"{FULLNAME}-gateway")["spec"]["template"]["metadata"]["labels"])
    spec = policy["spec"]
    assert "Egress" in spec["policyTypes"], f"{name}: gateway egress is not restricted"
    allowed: set[int] = set()
    for rule in spec["egress"]:
        assert rule.get("ports"), f"{name}: a gateway egress rule without ports opens every port"
        allowed |= _ports(rule)
    assert allowed == {53, 4222, 5432}, f"{name}: gateway egress ports {allowed}"
    assert [_ports(rule) for rule in spec["ingress"]] == [{8080}]


def test_approver_reaches_dns_nats_postgres_and_https(scenario: tuple[str, Rendered]) -> None:
    name, r = scenario
    (policy,) = _policies_for(r, r.named("Deployment", f"{FULLNAME}-approver")["spec"]["template"]["metadata"]["labels"])
    spec = policy["spec"]
    assert "Egress" in spec["policyTypes"]
    allowed: set[int] = set()
    for rule in spec["egress"]:
        assert rule.get("ports"), name
        allowed |= _ports(rule)
    assert allowed == {53, 4222, 5432, 443}, f"{name}: approver egress ports {allowed}"
    assert [_ports(rule) for rule in spec["ingress"]] == [{8081}]


def test_executors_accept_no_connections(scenario: tuple[str, Rendered]) -> None:
    name, r = scenario
    metrics_from = r.values.get("executor", {}).get("networkPolicy", {}).get("metricsFrom")
    for d in r.of_kind("Deployment"):
        if role_of(d) != "executor":
            continue
        (policy,) = _policies_for(r, d["spec"]["template"]["metadata"]["labels"])
        spec = policy["spec"]
        assert "Ingress" in spec["policyTypes"]
        rules = spec.get("ingress", [])
        if not metrics_from:
            assert rules == [], f"{name}: {d['metadata']['name']} allows ingress: {rules}"
        else:
            for rule in rules:
                assert _ports(rule) == {8082}, f"{name}: only the metrics port may be opened"
                assert rule.get("from"), f"{name}: metrics must be limited to given peers"


def test_restricted_executor_egress() -> None:
    r = render(SCENARIOS["two-pools"])
    dc = r.named("NetworkPolicy", f"{FULLNAME}-executor-private-dc")["spec"]
    assert "Egress" in dc["policyTypes"]
    ports = set().union(*(_ports(rule) for rule in dc["egress"]))
    assert ports == {53, 4222, 5432, 443}
    assert any(rule.get("to") == [{"ipBlock": {"cidr": "10.20.0.0/16"}}] for rule in dc["egress"])
    default = r.named("NetworkPolicy", f"{FULLNAME}-executor-default")["spec"]
    assert default["policyTypes"] == ["Ingress"], "executors call upstreams anywhere by default"


def test_network_policies_can_be_turned_off_and_narrowed() -> None:
    assert render(values(networkPolicy={"enabled": False})).of_kind("NetworkPolicy") == []
    peer = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "nats"}}}
    r = render(values(networkPolicy={"nats": {"port": 4222, "to": [peer]}}))
    spec = r.named("NetworkPolicy", f"{FULLNAME}-gateway")["spec"]
    nats_rules = [rule for rule in spec["egress"] if _ports(rule) == {4222}]
    assert nats_rules and nats_rules[0]["to"] == [peer]


# --------------------------------------------------------------------------------------------
# NOTES.txt


def test_notes_explain_the_first_steps() -> None:
    notes = render(SCENARIOS["defaults"]).notes()
    assert f"kubectl -n shellgate exec deploy/{FULLNAME}-approver -- shellgate admin-key create --name me" in notes
    assert f"port-forward svc/{FULLNAME}-approver" in notes
    assert "/api/tokens" in notes and "/api/targets" in notes
    assert "executor pods only" in notes


def test_other_release_names() -> None:
    r = render(SCENARIOS["defaults"], name="sg", namespace="agents")
    names = {d["metadata"]["name"] for d in r.of_kind("Deployment")}
    assert names == {"sg-shellgate-gateway", "sg-shellgate-approver", "sg-shellgate-executor-default"}
    assert "deploy/sg-shellgate-approver" in r.notes()


# --------------------------------------------------------------------------------------------
# Split releases: executors in private networks, a central cluster without the secret key


def _validate_all(r: Rendered) -> None:
    for obj in r.objects:
        if not obj["apiVersion"].startswith(CUSTOM_GROUPS):
            kubernetes_validate.validate(obj, "1.33.0", strict=True)


def test_central_release_without_executors_holds_no_secret_key() -> None:
    vals = merge(BASE_VALUES, {"executor": {"enabled": False}})
    del vals["secrets"]["vaultSecretKey"]  # not needed, and the render must not ask for it
    r = render(vals)
    _validate_all(r)
    roles = sorted(role_of(d) for d in r.of_kind("Deployment"))
    assert roles == ["approver", "gateway"]
    assert VAULT_SECRET_KEY not in str(r.files)
    assert all("vault-secret-key" not in s["metadata"]["name"] for s in r.of_kind("Secret"))
    assert not any("executor" in o["metadata"]["name"] for o in r.objects)
    assert "holds no vault secret key" in r.notes()


def test_executor_only_release_for_a_private_network() -> None:
    vals = merge(
        BASE_VALUES,
        {
            "gateway": {"enabled": False},
            "approver": {"enabled": False},
            "migrations": {"enabled": False},
            "executor": {"pools": [{"name": "dc-berlin", "replicas": 2}]},
        },
    )
    del vals["secrets"]["vaultPublicKey"]  # the approver is elsewhere
    r = render(vals)
    _validate_all(r)
    (deployment,) = r.of_kind("Deployment")
    assert deployment["metadata"]["name"] == f"{FULLNAME}-executor-dc-berlin"
    assert r.of_kind("Job") == [] and r.of_kind("Service") == [] and r.of_kind("Ingress") == []
    assert {s["metadata"]["name"] for s in r.of_kind("Secret")} == {
        f"{FULLNAME}-database",
        f"{FULLNAME}-vault-secret-key",
    }
    assert "admin-key create" not in r.notes()


def test_nothing_enabled_fails() -> None:
    message = render_error(
        values(gateway={"enabled": False}, approver={"enabled": False}, executor={"enabled": False})
    )
    assert "nothing to deploy" in message


# --------------------------------------------------------------------------------------------
# The optional NATS subchart, with a stand-in for the real chart (it cannot be fetched offline)


def test_bundled_nats_is_wired_when_the_subchart_is_present(tmp_path: Any) -> None:
    import shutil

    chart = tmp_path / "shellgate"
    shutil.copytree(CHART, chart)
    stub = chart / "charts" / "nats"
    (stub / "templates").mkdir(parents=True)
    (stub / "Chart.yaml").write_text("apiVersion: v2\nname: nats\nversion: 1.2.0\n")
    (stub / "values.yaml").write_text("config: {}\n")
    vals = values(externalNats={"url": ""}, nats={"enabled": True})
    with helm.Chart.load(str(chart)) as loaded:
        files = loaded.render(vals, name="sg", namespace="sg", is_install=True)
    docs = [d for p, t in files.items() if p.endswith(".yaml") for d in yaml.safe_load_all(t) if d]
    urls = {
        env_value(d["spec"]["template"]["spec"]["containers"][0], "SHELLGATE_NATS_URL")
        for d in docs
        if d["kind"] == "Deployment"
    }
    assert urls == {"nats://sg-nats:4222"}


# --------------------------------------------------------------------------------------------
# Approval notifications


def test_notifications_reach_the_approver_only_and_secrets_come_from_secrets() -> None:
    values = merge(
        SCENARIOS["metrics"],
        {
            "notifications": {
                "webhook": {"url": "https://hooks.example/shellgate", "secretRef": {"name": "notify", "key": "whsec"}},
                "slack": {"urlSecretRef": {"name": "notify", "key": "slack"}},
                "dashboardUrl": "https://approve.example",
            }
        },
    )
    r = render(values)
    for d in r.of_kind("Deployment"):
        (c,) = d["spec"]["template"]["spec"]["containers"]
        env = {e["name"]: e for e in c.get("env", [])}
        notify = {k for k in env if k.startswith("SHELLGATE_NOTIFY_")}
        if role_of(d) != "approver":
            assert not notify, f"{role_of(d)} got {notify}"
            continue
        assert env["SHELLGATE_NOTIFY_WEBHOOK_URL"]["value"] == "https://hooks.example/shellgate"
        assert env["SHELLGATE_NOTIFY_WEBHOOK_SECRET"]["valueFrom"]["secretKeyRef"] == {"name": "notify", "key": "whsec"}
        assert env["SHELLGATE_NOTIFY_SLACK_URL"]["valueFrom"]["secretKeyRef"] == {"name": "notify", "key": "slack"}
        assert env["SHELLGATE_NOTIFY_DASHBOARD_URL"]["value"] == "https://approve.example"
    # Off by default: no URL, no secret reference.
    for d in render(SCENARIOS["metrics"]).of_kind("Deployment"):
        (c,) = d["spec"]["template"]["spec"]["containers"]
        names = {e["name"] for e in c.get("env", [])}
        assert "SHELLGATE_NOTIFY_WEBHOOK_URL" not in names and "SHELLGATE_NOTIFY_SLACK_URL" not in names


def test_a_webhook_without_a_signing_secret_is_refused() -> None:
    values = merge(SCENARIOS["metrics"], {"notifications": {"webhook": {"url": "https://hooks.example/x"}}})
    with pytest.raises(Exception, match="secretRef"):
        render(values)
