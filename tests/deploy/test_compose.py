"""deploy/docker-compose.yml, checked without Docker: parsed as YAML (anchors and merge keys
resolved as compose resolves them) and read for structure, health checks and secret placement."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import yaml

from conftest import DEPLOY

SHELLGATE_SERVICES = {"migrate", "gateway-1", "gateway-2", "executor-1", "executor-2", "approver"}
LONG_RUNNING = {"postgres", "nats", "gateway-1", "gateway-2", "lb", "executor-1", "executor-2", "approver"}
ROLE_PORTS = {"gateway-1": 8080, "gateway-2": 8080, "executor-1": 8082, "executor-2": 8082, "approver": 8081}

# ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?message}, ${VAR?message}; $$ is a literal $.
INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


@pytest.fixture(scope="module")
def compose_text() -> str:
    return (DEPLOY / "docker-compose.yml").read_text()


@pytest.fixture(scope="module")
def compose(compose_text: str) -> dict[str, Any]:
    doc = yaml.safe_load(compose_text)
    assert isinstance(doc, dict)
    return doc


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {k: str(v) for k, v in env.items()}


def depends(service: dict[str, Any]) -> dict[str, str]:
    dep = service.get("depends_on", {})
    if isinstance(dep, list):
        return {d: "service_started" for d in dep}
    return {k: v.get("condition", "service_started") for k, v in dep.items()}


def command(service: dict[str, Any]) -> list[str]:
    cmd = service.get("command", [])
    return cmd.split() if isinstance(cmd, str) else list(cmd)


def test_services(services: dict[str, Any]) -> None:
    assert set(services) == {
        "postgres",
        "nats",
        "migrate",
        "gateway-1",
        "gateway-2",
        "lb",
        "executor-1",
        "executor-2",
        "approver",
    }
    for name in SHELLGATE_SERVICES:
        s = services[name]
        assert s["image"].startswith("${SHELLGATE_IMAGE:-shellgate"), name
        assert s["build"] == {"context": "..", "dockerfile": "deploy/Dockerfile"}, name
    roles = {name: command(services[name]) for name in SHELLGATE_SERVICES}
    assert roles == {
        "migrate": ["migrate"],
        "gateway-1": ["gateway"],
        "gateway-2": ["gateway"],
        "executor-1": ["executor"],
        "executor-2": ["executor"],
        "approver": ["approver"],
    }


def test_backing_services(services: dict[str, Any], compose: dict[str, Any]) -> None:
    pg, nats = services["postgres"], services["nats"]
    assert re.match(r"postgres:16(\b|[.-])", pg["image"]), pg["image"]
    assert "pg_isready" in " ".join(pg["healthcheck"]["test"])
    assert any(v.endswith(":/var/lib/postgresql/data") for v in pg["volumes"])
    m = re.match(r"nats:(\d+)\.(\d+)", nats["image"])
    assert m and (int(m[1]), int(m[2])) >= (2, 10), nats["image"]
    args = command(nats)
    assert "-js" in args, "JetStream must be on"
    store = args[args.index("-sd") + 1]
    assert any(v.endswith(f":{store}") for v in nats["volumes"]), "JetStream store on a volume"
    assert "8222" in " ".join(args) and "8222/healthz" in " ".join(nats["healthcheck"]["test"])
    assert {"postgres-data", "nats-data"} <= set(compose["volumes"])


def test_long_running_services_have_health_checks(services: dict[str, Any]) -> None:
    for name in LONG_RUNNING:
        hc = services[name].get("healthcheck")
        assert hc and hc.get("test") and not hc.get("disable"), f"{name} has no health check"
        assert hc["test"][0] in ("CMD", "CMD-SHELL"), name
        assert services[name].get("restart") == "unless-stopped", name
    for name, port in ROLE_PORTS.items():
        test = " ".join(services[name]["healthcheck"]["test"])
        assert f"127.0.0.1:{port}/health" in test, f"{name}: {test}"


def test_roles_listen_where_the_checks_look(services: dict[str, Any]) -> None:
    # The image sets 0.0.0.0 listen addresses (deploy/Dockerfile); compose must not undo them.
    for name in SHELLGATE_SERVICES:
        env = environment(services[name])
        assert not any(k.endswith("_LISTEN") for k in env), name


def test_vault_secret_key_only_in_executors(services: dict[str, Any]) -> None:
    for name, s in services.items():
        text = json.dumps(s)
        has = "SHELLGATE_VAULT_SECRET_KEY" in text
        assert has == name.startswith("executor-"), f"{name}: vault secret key presence {has}"
        assert "env_file" not in s, f"{name}: env_file would hand over every secret"
        assert "secrets" not in s, f"{name}: unexpected secrets"


def test_vault_public_key_only_in_the_approver(services: dict[str, Any]) -> None:
    for name, s in services.items():
        has = "SHELLGATE_VAULT_PUBLIC_KEY" in json.dumps(s)
        assert has == (name == "approver"), f"{name}: vault public key presence {has}"
    env = environment(services["approver"])
    assert env["SHELLGATE_SESSION_SECRET"].startswith("${SHELLGATE_SESSION_SECRET")
    assert env["SHELLGATE_ADMIN_BOOTSTRAP_KEY"].startswith("${SHELLGATE_ADMIN_BOOTSTRAP_KEY")
    assert env["SHELLGATE_NOTIFIER_KEY"].startswith("${SHELLGATE_NOTIFIER_KEY:?")
    for name in SHELLGATE_SERVICES - {"approver"}:
        assert "SHELLGATE_SESSION_SECRET" not in environment(services[name]), name
        assert "SHELLGATE_NOTIFIER_KEY" not in environment(services[name]), name


def test_every_role_gets_database_and_nats(services: dict[str, Any]) -> None:
    for name in SHELLGATE_SERVICES:
        env = environment(services[name])
        assert "@postgres:5432/" in env["SHELLGATE_DATABASE_URL"], name
        assert env["SHELLGATE_LOG_FORMAT"] == "json"
        if name != "migrate":
            assert env["SHELLGATE_NATS_URL"] == "nats://nats:4222", name
    for name in ("executor-1", "executor-2"):
        pool = environment(services[name])["SHELLGATE_EXECUTOR_POOL"]
        assert re.fullmatch(r"[a-z0-9-]+", pool), pool


def test_startup_order(services: dict[str, Any]) -> None:
    migrate = services["migrate"]
    assert depends(migrate) == {"postgres": "service_healthy"}
    assert migrate["restart"] == "no"
    for name in SHELLGATE_SERVICES - {"migrate"}:
        deps = depends(services[name])
        assert deps.get("migrate") == "service_completed_successfully", name
        assert deps.get("postgres") == "service_healthy", name
        assert deps.get("nats") == "service_healthy", name
    assert depends(services["lb"]) == {"gateway-1": "service_healthy", "gateway-2": "service_healthy"}


def test_ports_and_load_balancer(services: dict[str, Any]) -> None:
    def published(name: str) -> list[str]:
        return [str(p) for p in services[name].get("ports", [])]

    assert [p.rsplit(":", 2)[-2:] for p in published("lb")] == [["8080", "8080"]]
    assert [p.rsplit(":", 2)[-2:] for p in published("approver")] == [["8081", "8081"]]
    for name in ("gateway-1", "gateway-2", "executor-1", "executor-2", "postgres", "nats", "migrate"):
        assert not published(name), f"{name} must not be published on the host"
    mounts = services["lb"]["volumes"]
    assert any(m.startswith("./nginx.conf:") for m in mounts)
    conf = (DEPLOY / "nginx.conf").read_text()
    upstream = re.search(r"upstream\s+(\w+)\s*\{(.*?)\}", conf, re.S)
    assert upstream, "nginx.conf needs an upstream block"
    servers = re.findall(r"^\s*server\s+([\w.-]+:\d+)", upstream[2], re.M)
    assert servers == ["gateway-1:8080", "gateway-2:8080"]
    assert re.search(r"proxy_pass\s+http://" + upstream[1] + r"\s*;", conf)
    assert re.search(r"^\s*listen\s+8080\s*;", conf, re.M)
    assert "proxy_buffering off" in conf and "proxy_request_buffering off" in conf
    assert "8090/lb-health" in " ".join(services["lb"]["healthcheck"]["test"])
    assert "/lb-health" in conf
    # Balanced braces: a cheap syntax check without nginx.
    assert conf.count("{") == conf.count("}")


def test_shellgate_containers_are_hardened(services: dict[str, Any]) -> None:
    for name in SHELLGATE_SERVICES:
        s = services[name]
        assert s["user"] == "10001:10001", name
        assert s["read_only"] is True, name
        assert s["cap_drop"] == ["ALL"], name
        assert "no-new-privileges:true" in s["security_opt"], name
        assert "/tmp" in s["tmpfs"], name
        grace = re.fullmatch(r"(\d+)s", s["stop_grace_period"])
        drain_ms = int(environment(s).get("SHELLGATE_SHUTDOWN_GRACE_MS", "25000"))
        assert grace and int(grace[1]) * 1000 > drain_ms, name


def test_interpolation_is_well_formed_and_documented(compose_text: str) -> None:
    # Every $ is $$ or a ${...} expression compose understands.
    stripped = INTERPOLATION.sub("", compose_text.replace("$$", ""))
    assert "$" not in stripped, "unparsable $ in docker-compose.yml"
    example = (DEPLOY / ".env.example").read_text()
    documented = dict(
        line.split("=", 1) for line in example.splitlines() if line and not line.startswith("#")
    )
    for m in INTERPOLATION.finditer(compose_text):
        assert m["name"] in documented, f"{m['name']} is not in deploy/.env.example"
        if m["op"] and m["op"].endswith("?"):
            assert documented[m["name"]] == "", f"{m['name']}: .env.example must not ship a secret"
    assert "keygen" in example
    gitignore = (DEPLOY / ".gitignore").read_text().split()
    assert ".env" in gitignore


def test_required_secrets_fail_loudly(services: dict[str, Any]) -> None:
    for name, var in (
        ("executor-1", "SHELLGATE_VAULT_SECRET_KEY"),
        ("executor-2", "SHELLGATE_VAULT_SECRET_KEY"),
        ("approver", "SHELLGATE_VAULT_PUBLIC_KEY"),
    ):
        value = environment(services[name])[var]
        m = INTERPOLATION.fullmatch(value)
        assert m and m["name"] == var and m["op"] == ":?", f"{name}: {var} should be ${{{var}:?…}}"
