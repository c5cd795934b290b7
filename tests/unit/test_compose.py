"""The docker/ stack, checked without a Docker engine: the compose file parses, every service
has a pinned image or this repository's build and a health check (the one-shot submitter
aside), host ports are loopback-only and documented, and the image fetches the connector
version the job asks for."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from modelmon.pipelines.kafka_connector import KAFKA_CONNECTOR_SHA256, KAFKA_CONNECTOR_URL, KAFKA_CONNECTOR_VERSION

DOCKER = Path(__file__).resolve().parents[2] / "docker"
SERVICES = {"kafka", "clickhouse", "jobmanager", "taskmanager", "submit-job", "proxy", "simulator", "grafana"}


def compose() -> dict:
    return yaml.safe_load((DOCKER / "compose.yaml").read_text())


def test_the_stack_has_every_service_with_a_pinned_image_or_a_build():
    services = compose()["services"]
    assert set(services) == SERVICES
    for name, service in services.items():
        if "build" in service:  # the context is relative to docker/, the Dockerfile to the context
            assert (DOCKER / service["build"]["context"] / service["build"]["dockerfile"]).resolve().is_file(), name
        else:
            image = service["image"]
            assert re.fullmatch(r"[\w./-]+:\d[\w.-]*", image), f"{name}: {image} is not pinned to a version"


def test_every_long_running_service_has_a_health_check_and_dependencies_wait_for_it():
    services = compose()["services"]
    for name, service in services.items():
        if service.get("restart") == "no":
            continue  # submit-job exits once the job is submitted
        assert service["healthcheck"]["test"][0] in ("CMD", "CMD-SHELL"), name
    for name, service in services.items():
        for dependency, condition in service.get("depends_on", {}).items():
            assert dependency in services
            assert condition == {"condition": "service_healthy"}, (name, dependency)


def test_host_ports_are_loopback_only_and_documented():
    documented = (DOCKER / "README.md").read_text()
    for name, service in compose()["services"].items():
        for port in service.get("ports", []):
            host, published, _ = port.split(":")
            assert host == "127.0.0.1", (name, port)
            assert re.search(rf"\| `{published}` \| {name} \|", documented), f"port {published} ({name}) not in README"


def test_the_image_brings_the_kafka_connector_the_job_asks_for():
    dockerfile = (DOCKER / "Dockerfile").read_text()
    version = re.search(r"ARG KAFKA_CONNECTOR_VERSION=(\S+)", dockerfile).group(1)
    assert version == KAFKA_CONNECTOR_VERSION
    url = re.search(r'"(https://repo\.maven\.apache\.org/\S+\.jar)"', dockerfile).group(1)
    assert url.replace("${KAFKA_CONNECTOR_VERSION}", version) == KAFKA_CONNECTOR_URL
    assert re.search(r"ARG KAFKA_CONNECTOR_SHA256=(\S+)", dockerfile).group(1) == KAFKA_CONNECTOR_SHA256
    assert "sha256sum -c" in dockerfile
    assert "'.[kafka]'" in dockerfile  # the simulator's tracker client


def test_the_flink_configuration_parses_and_shares_checkpoints_between_containers():
    settings = yaml.safe_load((DOCKER / "flink" / "config.yaml").read_text())
    assert settings["execution"]["checkpointing"]["dir"] == "file:///flink-data/checkpoints"
    services = compose()["services"]
    for name in ("jobmanager", "taskmanager", "submit-job"):
        assert "flink-data:/flink-data" in services[name]["volumes"], name
    assert "--add-opens=java.base/java.util=ALL-UNNAMED" in settings["env"]["java"]["opts"]["all"]
