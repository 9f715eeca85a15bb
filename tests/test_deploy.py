"""The deployment files of deploy/: Kubernetes manifests and the compose file.

The manifests validate against the Kubernetes JSON schemas (kubernetes-validate, strict: an
unknown field is an error), and agree with the service: probes on its health routes, a grace
period that outlasts GRACEFUL_TIMEOUT, settings the service knows. No compose engine runs here
(no docker daemon, no registry for the MongoDB image): its file is checked for what it promises.
"""

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from api.config import SETTINGS, load_config
from api.db import CLOSE_TIMEOUT_S
from api.security import digest

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
KUBERNETES_VERSION = "1.30.0"  # the oldest with the preStop `sleep` action


def manifests() -> list[dict[str, Any]]:
    return [
        document
        for path in sorted((DEPLOY / "k8s").glob("*.yaml"))
        for document in yaml.safe_load_all(path.read_text())
    ]


def find(kind: str, name: str) -> dict[str, Any]:
    (found,) = [m for m in manifests() if m["kind"] == kind and m["metadata"]["name"] == name]
    return found


@pytest.mark.parametrize(
    "manifest", manifests(), ids=lambda m: f"{m['kind']}/{m['metadata']['name']}"
)
def test_every_manifest_validates_strictly(manifest: dict[str, Any]) -> None:
    kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)


def test_the_kinds_an_installation_needs_are_there() -> None:
    kinds = {(m["kind"], m["metadata"]["name"]) for m in manifests()}

    assert kinds == {
        ("ConfigMap", "users-api"),
        ("Secret", "users-api"),
        ("Deployment", "users-api"),
        ("Service", "users-api"),
        ("HorizontalPodAutoscaler", "users-api"),
        ("PodDisruptionBudget", "users-api"),
        ("Deployment", "users-frontend"),
        ("Service", "users-frontend"),
    }


def test_the_api_deployment_is_probed_bounded_and_locked_down() -> None:
    deployment = find("Deployment", "users-api")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]

    assert deployment["spec"]["replicas"] >= 2
    assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"
    assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    assert set(container["resources"]) == {"requests", "limits"}
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False


def test_the_grace_period_outlasts_the_graceful_shutdown() -> None:
    pod = find("Deployment", "users-api")["spec"]["template"]["spec"]
    pause = pod["containers"][0]["lifecycle"]["preStop"]["sleep"]["seconds"]
    graceful = int(find("ConfigMap", "users-api")["data"]["GRACEFUL_TIMEOUT"])

    assert pod["terminationGracePeriodSeconds"] >= pause + graceful + CLOSE_TIMEOUT_S


def test_the_configuration_holds_only_settings_the_service_reads() -> None:
    config = find("ConfigMap", "users-api")["data"]
    secret = find("Secret", "users-api")["stringData"]
    container = find("Deployment", "users-api")["spec"]["template"]["spec"]["containers"][0]
    from_secret = {env["name"] for env in container["env"]}

    assert set(config) <= set(SETTINGS)
    assert from_secret == {"MONGODB_URI", "API_KEYS"}
    assert from_secret <= set(secret)
    assert not from_secret & set(config)  # secrets never in the ConfigMap


def test_the_hpa_and_the_budget_keep_two_replicas_and_one_available() -> None:
    hpa = find("HorizontalPodAutoscaler", "users-api")["spec"]
    budget = find("PodDisruptionBudget", "users-api")["spec"]

    assert hpa["scaleTargetRef"]["name"] == "users-api"
    assert hpa["minReplicas"] >= 2
    assert budget["minAvailable"] == 1
    assert budget["selector"] == find("Deployment", "users-api")["spec"]["selector"]


def test_compose_runs_a_replica_set_the_api_waits_for() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    environment = dict(
        line.split("=", 1)
        for line in (DEPLOY / "compose.env").read_text().splitlines()
        if line and not line.startswith("#")
    )

    assert set(services) == {"mongodb", "api", "frontend"}
    assert "--replSet" in services["mongodb"]["command"]
    assert "healthcheck" in services["mongodb"]
    assert services["mongodb"]["volumes"] == ["mongodb-data:/data/db"]
    api = services["api"]
    assert api["depends_on"] == {"mongodb": {"condition": "service_healthy"}}
    assert api["environment"]["WORKERS"] == "2"
    assert "replicaSet=rs0" in api["environment"]["MONGODB_URI"]
    assert api["build"] == {"context": "..", "dockerfile": "deploy/Dockerfile", "target": "api"}
    assert services["frontend"]["build"]["target"] == "frontend"
    assert services["frontend"]["environment"]["BACKEND_URL"] == "http://api:8000"
    # The key the frontend sends is one the API accepts.
    (key,) = load_config({"API_KEYS": environment["API_KEYS"]})["API_KEYS"]
    assert key.scopes == {"read", "write"}
    assert key.digest == digest(environment["API_KEY"])
