"""docker/docker-compose.yml: valid against the Compose Specification once interpolated with
docker/.env.example, and shaped as the deployment needs (services, queues, resources, secrets)."""

from __future__ import annotations

import base64
import json
import os
import re
import stat
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
COMPOSE_TEXT = (DOCKER / "docker-compose.yml").read_text()

AIRFLOW_SERVICES = ["airflow-init", "airflow-apiserver", "airflow-scheduler", "airflow-dag-processor",
                    "airflow-triggerer", "airflow-worker", "airflow-worker-train"]
REQUIRED_SERVICES = ["postgres", "redis", "minio", "minio-init", *AIRFLOW_SERVICES]
SECRET_NAME = re.compile(r"PASSWORD|SECRET|FERNET|JWT|TOKEN|_KEY$")
REFERENCE = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(:?[-?+])?")  # `$${X}` is a literal


def queues_of(command: list[str]) -> list[str] | None:
    """Queues an `airflow celery worker` command consumes; None if it is not a Celery worker."""
    if command[:3] != ["airflow", "celery", "worker"]:
        return None
    for flag in ("--queues", "-q"):
        if flag in command:
            return command[command.index(flag) + 1].split(",")
    return ["default"]  # Airflow's [operators] default_queue


def test_compose_validates_against_the_specification(compose):
    raw, resolved = compose
    assert set(REQUIRED_SERVICES) <= set(resolved["services"])
    # `$${X}` is how a container's own shell variable is written: only commands and healthchecks have one
    leftovers = [path for path, text in _strings(resolved) if "${" in text]
    assert leftovers and all(re.search(r"\.(command|healthcheck)\b", path) for path in leftovers), leftovers


def _strings(node, path=""):
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _strings(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _strings(value, f"{path}[{i}]")
    elif isinstance(node, str):
        yield path, node


def test_every_variable_is_in_env_example_or_has_a_default(example_env):
    code = "\n".join(line for line in COMPOSE_TEXT.splitlines() if not line.lstrip().startswith("#"))
    for name, op in REFERENCE.findall(code):
        if op in (":-", "-"):
            continue
        assert name in example_env, f"${{{name}}} has no default and is missing from docker/.env.example"
        assert example_env[name], f"{name} is empty in docker/.env.example"


def test_train_worker_consumes_only_the_train_queue(compose):
    _, resolved = compose
    services = resolved["services"]
    assert queues_of(services["airflow-worker-train"]["command"]) == ["train"]
    assert services["airflow-worker-train"]["command"][-2:] == ["--concurrency", "1"]
    workers = {name: queues_of(s.get("command") or []) for name, s in services.items()}
    workers = {name: q for name, q in workers.items() if q is not None}
    assert set(workers) == {"airflow-worker", "airflow-worker-train"}
    assert "train" not in workers["airflow-worker"], "the default worker must not take training runs"


def test_train_worker_resources_come_from_variables(compose_check, example_env):
    raw = yaml.safe_load(COMPOSE_TEXT)["services"]["airflow-worker-train"]
    assert raw["cpus"].startswith("${TRAIN_WORKER_CPUS")
    assert raw["mem_limit"].startswith("${TRAIN_WORKER_MEMORY")
    env = {**example_env, "TRAIN_WORKER_CPUS": "64", "TRAIN_WORKER_MEMORY": "240g"}
    _, resolved = compose_check.load_compose(COMPOSE_TEXT, env)
    train = resolved["services"]["airflow-worker-train"]
    assert (train["cpus"], train["mem_limit"], train["memswap_limit"]) == ("64", "240g", "240g")
    # numba sizes its thread pool from the host's core count, not the container's quota
    assert train["environment"]["NUMBA_NUM_THREADS"] == "64"
    default = resolved["services"]["airflow-worker"]
    assert "cpus" not in default and "mem_limit" not in default


def _secret_values(service: dict) -> list[tuple[str, str]]:
    env = service.get("environment") or {}
    pairs = [(k, str(v)) for k, v in env.items() if SECRET_NAME.search(k)]
    pairs += [(k, str(v)) for k, v in env.items() if re.search(r"://[^/\s]*@", str(v))]  # credentials in URLs
    return pairs


def test_no_literal_secrets_in_the_compose_file():
    raw = yaml.safe_load(COMPOSE_TEXT)
    checked = 0
    for name, service in raw["services"].items():
        for key, value in _secret_values(service):
            if key == "AWS_ACCESS_KEY_ID" or key == "AWS_DEFAULT_REGION":
                continue
            secret_part = value
            url = re.match(r"^[a-z0-9+]+://([^@]*)@", value)
            if url:
                secret_part = url.group(1).split(":", 1)[-1]  # the password of user:password@
            refs = REFERENCE.findall(secret_part)
            assert refs, f"{name}.environment.{key} holds a literal secret: {value!r}"
            for var, op in refs:
                if SECRET_NAME.search(var):
                    assert op in ("", ":?", "?"), f"{name}.{key}: secret {var} must not have a default"
            checked += 1
    redis = raw["services"]["redis"]["command"]
    assert redis[redis.index("--requirepass") + 1].startswith("${REDIS_PASSWORD:?")
    assert checked >= 15


def test_a_missing_secret_stops_compose(compose_check, example_env):
    env = {k: v for k, v in example_env.items() if k != "POSTGRES_PASSWORD"}
    with pytest.raises(compose_check.ComposeError, match="POSTGRES_PASSWORD"):
        compose_check.load_compose(COMPOSE_TEXT, env)


def test_env_example_holds_placeholders_only_and_env_is_ignored(example_env):
    for key, value in example_env.items():
        if SECRET_NAME.search(key) and key != "TOPICTENSOR_S3_ACCESS_KEY":
            assert value == "CHANGE_ME", f"docker/.env.example: {key} must be the CHANGE_ME placeholder"
    ignored = subprocess.run(["git", "check-ignore", "-q", "docker/.env"], cwd=ROOT)
    if ignored.returncode == 128:  # not a git checkout: read the ignore file itself
        assert ".env" in (DOCKER / ".gitignore").read_text().split()
    else:
        assert ignored.returncode == 0, "docker/.env (real secrets) is not ignored by git"


def test_airflow_services_share_one_image_and_the_same_settings(compose):
    _, resolved = compose
    services = resolved["services"]
    images = {services[name]["image"] for name in AIRFLOW_SERVICES}
    builds = {json.dumps(services[name]["build"], sort_keys=True) for name in AIRFLOW_SERVICES}
    assert len(images) == 1 and len(builds) == 1
    assert json.loads(builds.pop())["dockerfile"] == "docker/Dockerfile"
    shared = ("AIRFLOW__CORE__EXECUTOR", "AIRFLOW__CORE__FERNET_KEY", "AIRFLOW__API_AUTH__JWT_SECRET",
              "AIRFLOW__API__SECRET_KEY", "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "AIRFLOW__CELERY__BROKER_URL",
              "TOPICTENSOR__STORE__URI")
    for key in shared:
        values = {services[name]["environment"][key] for name in AIRFLOW_SERVICES}
        assert len(values) == 1, f"{key} differs between Airflow services: {values}"
    assert services["airflow-scheduler"]["environment"]["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    commands = {name: services[name]["command"] for name in AIRFLOW_SERVICES}
    assert commands["airflow-apiserver"] == ["airflow", "api-server"]
    assert commands["airflow-scheduler"] == ["airflow", "scheduler"]
    assert commands["airflow-dag-processor"] == ["airflow", "dag-processor"]
    assert commands["airflow-triggerer"] == ["airflow", "triggerer"]


def test_startup_order(compose):
    _, resolved = compose
    services = resolved["services"]
    for name in AIRFLOW_SERVICES:
        deps = services[name]["depends_on"]
        assert deps["postgres"]["condition"] == "service_healthy"
        assert deps["redis"]["condition"] == "service_healthy"
        if name != "airflow-init":
            assert deps["airflow-init"]["condition"] == "service_completed_successfully", name
    for name in ("airflow-worker", "airflow-worker-train"):
        assert services[name]["depends_on"]["minio-init"]["condition"] == "service_completed_successfully"
    assert services["minio-init"]["depends_on"]["minio"]["condition"] == "service_healthy"
    assert services["airflow-init"]["command"] == ["/opt/airflow/bin/airflow-init.sh"]


def test_airflow_settings_are_real_airflow_options(compose):
    """A misspelt AIRFLOW__SECTION__OPTION is silently ignored by Airflow: check each against its
    configuration reference (sections of providers, such as celery, are not in core's)."""
    import importlib.util

    locations = importlib.util.find_spec("airflow").submodule_search_locations  # found, not imported (slow)
    (config_yml,) = [Path(d) / "config_templates" / "config.yml" for d in locations
                     if (Path(d) / "config_templates" / "config.yml").is_file()]
    reference = yaml.safe_load(config_yml.read_text())
    _, resolved = compose
    seen = 0
    for name in AIRFLOW_SERVICES:
        for key in resolved["services"][name]["environment"]:
            if not key.startswith("AIRFLOW__"):
                continue
            section, option = key[len("AIRFLOW__"):].lower().split("__", 1)
            if section.startswith("celery"):
                continue
            assert option in reference[section]["options"], f"{name}: {key} is not an Airflow option"
            seen += 1
    assert seen > 0


def test_topictensor_env_points_the_store_at_minio(compose, monkeypatch):
    """The variables compose gives a worker, read by topictensor's own config loader."""
    from topictensor.config import load_config

    _, resolved = compose
    env = resolved["services"]["airflow-worker-train"]["environment"]
    for key, value in env.items():
        if key.startswith("TOPICTENSOR__"):
            monkeypatch.setenv(key, value)
    config = load_config(ROOT / "topictensor.yaml")
    assert config.store.uri == "s3://topictensor/store"
    assert config.store.endpoint_url == "http://minio:9000"
    assert config.ingest.input_uri == "s3://topictensor/raw"
    assert config.filter.min_bloggers == 20
    assert env["AWS_SECRET_ACCESS_KEY"] == "CHANGE_ME" and env["AWS_ACCESS_KEY_ID"] == "topictensor"


def test_minio_init_creates_the_bucket_and_a_key_limited_to_it(compose, tmp_path):
    """The init container's script run against a fake `mc` that records its calls."""
    _, resolved = compose
    init = resolved["services"]["minio-init"]
    assert init["entrypoint"] == ["/bin/sh", "-c"]
    log = tmp_path / "mc.log"
    fake = tmp_path / "bin" / "mc"
    fake.parent.mkdir()
    fake.write_text(f'#!/bin/sh\necho "$*" >> {log}\n'
                    f'case "$*" in "admin policy create"*) cp "$6" {tmp_path}/policy.json;; esac\n')
    fake.chmod(0o755)
    env = {**init["environment"], "PATH": f"{fake.parent}:{os.environ['PATH']}", "TOPICTENSOR_BUCKET": "bkt"}
    result = subprocess.run(["/bin/sh", "-c", init["command"][0]], env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    calls = log.read_text().splitlines()
    assert calls[0] == "alias set store http://minio:9000 minioadmin CHANGE_ME"
    assert "mb --ignore-existing store/bkt" in calls
    assert "admin user add store topictensor CHANGE_ME" in calls
    assert "admin policy attach store topictensor-rw --user topictensor" in calls
    policy = json.loads((tmp_path / "policy.json").read_text())
    resources = {r for s in policy["Statement"] for r in s["Resource"]}
    assert resources == {"arn:aws:s3:::bkt", "arn:aws:s3:::bkt/*"}


@pytest.mark.parametrize("broken, complaint", [
    ("services:\n  web:\n    image: nginx\n    restart_policy: always\n", "restart_policy"),
    ("services:\n  web:\n    image: nginx\n    ports: 8080\n", "ports"),
    ("services:\n  web:\n    image: nginx\n    depends_on:\n      db:\n        condition: when_ready\n", "condition"),
    ("services:\n  web:\n    image: ${IMAGE\n", "unclosed"),
    ("services:\n  web:\n    image: nginx\n    environment:\n      PASSWORD: ${DB_PASSWORD:?set it}\n", "DB_PASSWORD"),
    ("services: [web]\n", "services"),
])
def test_a_broken_compose_document_is_rejected(compose_check, broken, complaint):
    with pytest.raises(compose_check.ComposeError, match=complaint):
        compose_check.load_compose(broken, {})


@pytest.mark.parametrize("text, expected", [
    ("$$HOME and $${X}", "$HOME and ${X}"),
    ("${SET}/${UNSET}", "v/"),
    ("${EMPTY:-d}|${EMPTY-d}|${UNSET-d}", "d||d"),
    ("${UNSET:-s3://${SET:-x}/raw}", "s3://v/raw"),
    ("${SET:+yes}|${EMPTY:+yes}|${EMPTY+yes}", "yes||yes"),
    ("$SET-$UNSET.", "v-."),
])
def test_interpolation_follows_the_compose_rules(compose_check, text, expected):
    assert compose_check.interpolate_string(text, {"SET": "v", "EMPTY": ""}) == expected


def test_make_env_writes_fresh_secrets(tmp_path, compose_check, make_env):
    out = tmp_path / ".env"
    assert make_env.main(["--out", str(out)]) == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    env = compose_check.read_env_file(out)
    assert "CHANGE_ME" not in env.values()
    assert len(base64.urlsafe_b64decode(env["AIRFLOW_FERNET_KEY"])) == 32  # Fernet's key format
    assert re.fullmatch(r"[0-9a-f]{64}", env["POSTGRES_PASSWORD"])        # safe inside a URL
    assert env["POSTGRES_PASSWORD"] != env["REDIS_PASSWORD"]
    assert env["TRAIN_WORKER_CPUS"] == "8"                                  # non-secrets kept
    compose_check.load_compose(COMPOSE_TEXT, env)
    first = out.read_text()
    assert make_env.main(["--out", str(out)]) == 1 and out.read_text() == first  # never overwrites secrets


def _train_task_timeout() -> timedelta:
    """execution_timeout of the DAG's train task: the stage graph's limit the DAG sets it from
    (tests/airflow/test_dag_integrity.py checks the parsed DAG's task carries it)."""
    from topictensor.stages.graph import STAGES

    hours = STAGES["train"].limits.get("hours")
    if hours is None:
        raise AssertionError("topictensor/stages/graph.py: no execution time limit ('hours') on the train stage")
    return timedelta(hours=hours)


def test_broker_does_not_redeliver_a_long_training(compose):
    """Redis redelivers a task unacknowledged after visibility_timeout: with a training longer
    than that, a second worker would start the same training."""
    _, resolved = compose
    env = resolved["services"]["airflow-worker-train"]["environment"]
    visibility = timedelta(seconds=int(env["AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT"]))
    assert visibility > _train_task_timeout() >= timedelta(hours=24)
