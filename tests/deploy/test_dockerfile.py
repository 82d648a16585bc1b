"""deploy/Dockerfile, read without Docker: multi-stage, locked release build, non-root runtime."""

from __future__ import annotations

import json
import re
import tomllib

import dockerfile
import pytest

from conftest import DEPLOY, REPO


@pytest.fixture(scope="module")
def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments), parsed by BuildKit's own Dockerfile parser (the `dockerfile`
    package wraps it), so a syntax error fails here as it would in `docker build`."""
    out = []
    for cmd in dockerfile.parse_file(str(DEPLOY / "Dockerfile")):
        if cmd.json:
            rest = json.dumps(list(cmd.value))
        elif cmd.cmd.upper() in ("ENV", "ARG", "LABEL") and len(cmd.value) % 2 == 0 and "=" not in cmd.value[0]:
            rest = " ".join(f"{k}={v}" for k, v in zip(cmd.value[::2], cmd.value[1::2]))
        else:
            rest = " ".join(cmd.value)
        out.append((cmd.cmd.upper(), " ".join([*cmd.flags, rest])))
    return out


def stages(instructions: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    result: list[list[tuple[str, str]]] = []
    for ins in instructions:
        if ins[0] == "FROM":
            result.append([])
        if result:
            result[-1].append(ins)
    return result


def resolve(image: str, instructions: list[tuple[str, str]]) -> str:
    args = dict(
        a.split("=", 1) for word, a in instructions if word == "ARG" and "=" in a
    )
    return re.sub(r"\$\{(\w+)\}", lambda m: args.get(m[1], m[0]), image)


def test_multi_stage_build(instructions: list[tuple[str, str]]) -> None:
    froms = [rest for word, rest in instructions if word == "FROM"]
    assert len(froms) >= 2, "builder and runtime stages"
    builder = resolve(froms[0].split()[0], instructions)
    runtime = resolve(froms[-1].split()[0], instructions)
    assert re.search(r"\bAS builder\b", froms[0], re.I)
    m = re.fullmatch(r"rust:(\d+)\.(\d+)(?:\.\d+)?-(bookworm|trixie)", builder)
    assert m, f"pinned Debian-based Rust image expected, got {builder}"
    cargo = tomllib.loads((REPO / "Cargo.toml").read_text())
    need = tuple(int(x) for x in cargo["workspace"]["package"]["rust-version"].split(".")[:2])
    assert (int(m[1]), int(m[2])) >= need, f"{builder} is older than rust-version {need}"
    assert runtime in ("debian:bookworm-slim", "debian:trixie-slim") or runtime.startswith(
        "gcr.io/distroless/cc"
    ), runtime


def test_locked_release_build_of_the_single_binary(instructions: list[tuple[str, str]]) -> None:
    builder = stages(instructions)[0]
    runs = " ".join(rest for word, rest in builder if word == "RUN")
    assert "cargo build --release --locked --bin shellgate" in runs


def test_runtime_stage(instructions: list[tuple[str, str]]) -> None:
    runtime = stages(instructions)[-1]
    words = [w for w, _ in runtime]
    copies = [rest for w, rest in runtime if w == "COPY"]
    assert any("--from=builder" in c and c.endswith("/usr/local/bin/shellgate") for c in copies)
    users = [rest for w, rest in runtime if w == "USER"]
    assert users and users[-1].split(":")[0] == "10001", "runs as uid 10001"
    assert words.index("USER") > max(i for i, w in enumerate(words) if w == "RUN"), (
        "USER comes after the last RUN"
    )
    runs = " ".join(rest for w, rest in runtime if w == "RUN")
    assert "ca-certificates" in runs
    assert "curl" in runs, "the compose health checks use curl"
    assert "--uid 10001" in runs
    entry = [json.loads(rest) for w, rest in runtime if w == "ENTRYPOINT"]
    cmd = [json.loads(rest) for w, rest in runtime if w == "CMD"]
    assert entry == [["shellgate"]]
    assert cmd == [["up"]]
    exposed = {p for w, rest in runtime if w == "EXPOSE" for p in rest.split()}
    assert {"8080", "8081", "8082"} <= exposed
    env = " ".join(rest for w, rest in runtime if w == "ENV")
    for setting in (
        "SHELLGATE_LOG_FORMAT=json",
        "SHELLGATE_GATEWAY_LISTEN=0.0.0.0:8080",
        "SHELLGATE_APPROVER_LISTEN=0.0.0.0:8081",
        "SHELLGATE_EXECUTOR_LISTEN=0.0.0.0:8082",
    ):
        assert setting in env, setting


def test_build_context_ignore_file() -> None:
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text().split()
    for pattern in ("target/", ".git/", ".shellgate/"):
        assert pattern in ignore, pattern
    header = (DEPLOY / "Dockerfile").read_text()
    assert "docker build -f deploy/Dockerfile" in header
    # Sources the build needs must not be ignored.
    for needed in ("Cargo.toml", "Cargo.lock", "src/", "shared/", "migrations/", "tests/"):
        assert needed not in ignore, needed
