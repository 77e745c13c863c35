"""The Kubernetes manifests render, validate offline, and keep the promises a cluster relies on.

`kubectl kustomize` renders every kustomization in deploy/kubernetes; kubernetes-validate
checks the result strictly against the oldest and newest Kubernetes versions we support, and
the KEDA ScaledObject against the schema vendored beside the manifests. The rest reads the
rendered objects the way an operator reviewing them would.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from app.core import project
from app.core.settings import ServerSettings, Settings

pytestmark = pytest.mark.embedded_only

ROOT = Path(__file__).resolve().parents[1]
KUBERNETES = ROOT / "deploy" / "kubernetes"
# The oldest version is the first whose default feature gates have everything used here
# (the preStop sleep action); the newest is the newest kubernetes-validate knows.
SUPPORTED_VERSIONS = ("1.30.0", "1.37.0")
PRODUCTION_OVERLAY = KUBERNETES / "overlays" / "production"

Manifest = dict[str, Any]


def kustomize(directory: Path) -> list[Manifest]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        reason = "kubectl (with its built-in kustomize) is not installed"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} (CI=true, so these tests may not skip)")
        pytest.skip(reason)
    done = subprocess.run(  # noqa: S603 - our own command line
        [kubectl, "kustomize", str(directory)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


@pytest.fixture(scope="module")
def rendered() -> list[Manifest]:
    """The production set, as `kubectl kustomize deploy/kubernetes` renders it."""
    return kustomize(KUBERNETES)


@pytest.fixture(scope="module")
def rendered_file(rendered: list[Manifest], tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("kubernetes") / "production.yaml"
    path.write_text(yaml.safe_dump_all(rendered))
    return path


def objects(rendered: list[Manifest], kind: str) -> dict[str, Manifest]:
    return {m["metadata"]["name"]: m for m in rendered if m["kind"] == kind}


def one(rendered: list[Manifest], kind: str, name: str) -> Manifest:
    found = objects(rendered, kind)
    assert name in found, f"no {kind} {name} among {sorted(found)}"
    return found[name]


def pod_templates(rendered: list[Manifest]) -> Iterator[tuple[str, Manifest]]:
    for manifest in rendered:
        if manifest["kind"] in ("Deployment", "Job"):
            yield f"{manifest['kind']}/{manifest['metadata']['name']}", manifest["spec"]["template"]


def containers(rendered: list[Manifest]) -> Iterator[tuple[str, Manifest, Manifest]]:
    for name, template in pod_templates(rendered):
        for container in template["spec"]["containers"]:
            yield f"{name}/{container['name']}", container, template["spec"]


def config(rendered: list[Manifest]) -> dict[str, str]:
    (config_map,) = (m for m in rendered if m["kind"] == "ConfigMap")
    return dict(config_map["data"])


def release_id(rendered: list[Manifest]) -> str:
    return config(rendered)["APP_RELEASE"]


# ------------------------------------------------------------------ render and validate


def test_every_kustomization_renders(tmp_path: Path) -> None:
    """The top level renders as it is; the overlay once its git-ignored secrets.env exists."""
    assert kustomize(KUBERNETES)
    copy = tmp_path / "kubernetes"
    shutil.copytree(KUBERNETES, copy)
    overlay = copy / PRODUCTION_OVERLAY.relative_to(KUBERNETES)
    (overlay / "secrets.env").unlink(missing_ok=True)
    shutil.copy(overlay / "secrets.env.example", overlay / "secrets.env")
    kinds = {m["kind"] for m in kustomize(overlay)}
    assert {"Deployment", "Job", "Secret", "ConfigMap"} <= kinds
    assert "ScaledObject" not in kinds  # KEDA stays optional where you deploy


@pytest.mark.parametrize("version", SUPPORTED_VERSIONS)
def test_the_production_set_validates_strictly(rendered_file: Path, version: str) -> None:
    done = subprocess.run(  # noqa: S603 - our own command line
        [
            str(Path(sys.executable).parent / "kubernetes-validate"),
            "--strict",
            "--kubernetes-version",
            version,
            str(rendered_file),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    warnings = [line for line in done.stdout.splitlines() if line.startswith("WARN")]
    # Only the custom resource lacks a built-in schema; the next test checks it.
    assert all("ScaledObject" in line for line in warnings), warnings


def test_the_keda_scaled_object_matches_the_vendored_schema(rendered: list[Manifest]) -> None:
    schema = json.loads((KUBERNETES / "schemas" / "keda.sh-v1alpha1-scaledobject.json").read_text())
    scaled = one(rendered, "ScaledObject", f"{project.SLUG}-worker")
    jsonschema.validate(scaled, schema)
    misspelled = {**scaled, "spec": {**scaled["spec"], "minReplicas": 1}}
    with pytest.raises(jsonschema.ValidationError, match="minReplicas"):
        jsonschema.validate(misspelled, schema)


# ------------------------------------------------------------------ every pod and container


def test_every_container_runs_locked_down(rendered: list[Manifest]) -> None:
    for name, container, pod in containers(rendered):
        pod_security = pod["securityContext"]
        assert pod_security["runAsNonRoot"] is True, name
        assert pod_security["runAsUser"] != 0, name
        assert pod_security["seccompProfile"] == {"type": "RuntimeDefault"}, name
        security = container["securityContext"]
        assert security["allowPrivilegeEscalation"] is False, name
        assert security["readOnlyRootFilesystem"] is True, name
        assert security["capabilities"]["drop"] == ["ALL"], name
        assert "add" not in security["capabilities"], name


def test_every_container_has_requests_and_a_memory_limit(rendered: list[Manifest]) -> None:
    for name, container, _ in containers(rendered):
        resources = container["resources"]
        assert {"cpu", "memory"} <= set(resources["requests"]), name
        assert "memory" in resources["limits"], name


def test_every_container_writes_only_to_an_empty_dir_at_tmp(rendered: list[Manifest]) -> None:
    """Beat's schedule and the metrics directory (made under $TMPDIR) live in /tmp."""
    for name, container, pod in containers(rendered):
        empty_dirs = {v["name"] for v in pod["volumes"] if "emptyDir" in v}
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        assert mounts.get("/tmp") in empty_dirs, name  # noqa: S108


def test_no_pod_gets_a_service_account_token(rendered: list[Manifest]) -> None:
    (account,) = objects(rendered, "ServiceAccount").values()
    assert account["automountServiceAccountToken"] is False
    for name, template in pod_templates(rendered):
        assert template["spec"]["serviceAccountName"] == account["metadata"]["name"], name
        assert template["spec"]["automountServiceAccountToken"] is False, name


def test_every_image_is_tagged_with_the_release_id(rendered: list[Manifest]) -> None:
    release = release_id(rendered)
    for name, container, _ in containers(rendered):
        assert container["image"].endswith(f"/{project.SLUG}:{release}"), name


# ------------------------------------------------------------------ web


def test_web_probes_mean_started_ready_and_alive(rendered: list[Manifest]) -> None:
    web = one(rendered, "Deployment", f"{project.SLUG}-web")["spec"]["template"]["spec"][
        "containers"
    ][0]
    assert web["startupProbe"]["httpGet"]["path"] == "/livez"
    assert web["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert web["livenessProbe"]["httpGet"]["path"] == "/livez"


def test_every_probe_path_is_in_the_openapi_document(rendered: list[Manifest]) -> None:
    paths = json.loads((ROOT / "openapi.json").read_text())["paths"]
    probed = {
        probe["httpGet"]["path"]
        for _, container, _ in containers(rendered)
        for key in ("startupProbe", "readinessProbe", "livenessProbe")
        if "httpGet" in (probe := container.get(key, {}))
    }
    assert probed
    for path in probed:
        assert "get" in paths.get(path, {}), f"{path} is not a GET in openapi.json"


def test_web_drains_before_gunicorn_stops_and_finishes_before_the_kill(
    rendered: list[Manifest],
) -> None:
    pod = one(rendered, "Deployment", f"{project.SLUG}-web")["spec"]["template"]["spec"]
    pause = pod["containers"][0]["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert pause > 0
    server = ServerSettings.model_validate({k.lower(): v for k, v in config(rendered).items()})
    graceful = server.gunicorn_graceful_timeout
    assert pod["terminationGracePeriodSeconds"] > pause + graceful


def test_web_has_a_service_an_autoscaler_and_a_disruption_budget(
    rendered: list[Manifest],
) -> None:
    labels = one(rendered, "Deployment", f"{project.SLUG}-web")["spec"]["template"]["metadata"][
        "labels"
    ]
    service = one(rendered, "Service", f"{project.SLUG}-web")
    assert service["spec"]["selector"].items() <= labels.items()
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    autoscaler = one(rendered, "HorizontalPodAutoscaler", f"{project.SLUG}-web")
    assert autoscaler["spec"]["scaleTargetRef"]["name"] == f"{project.SLUG}-web"
    assert autoscaler["spec"]["minReplicas"] >= 2
    budget = one(rendered, "PodDisruptionBudget", f"{project.SLUG}-web")
    assert budget["spec"]["selector"]["matchLabels"].items() <= labels.items()


def test_clients_reach_web_through_an_ingress_that_reads_requests_whole(
    rendered: list[Manifest],
) -> None:
    ingress = one(rendered, "Ingress", f"{project.SLUG}-web")
    backends = [
        path["backend"]["service"]
        for rule in ingress["spec"]["rules"]
        for path in rule["http"]["paths"]
    ]
    assert backends == [{"name": f"{project.SLUG}-web", "port": {"name": "http"}}]
    annotations = {
        name.removeprefix("nginx.ingress.kubernetes.io/"): value
        for name, value in ingress["metadata"]["annotations"].items()
    }
    assert annotations["proxy-request-buffering"] == "on"
    assert annotations["proxy-buffering"] == "on"
    # The app's own limit: a body the ingress lets through, the app accepts.
    body_limit = Settings.model_fields["max_content_length"].default
    assert annotations["proxy-body-size"] == f"{body_limit // 1024 // 1024}m"
    assert config(rendered)["TRUSTED_PROXIES"] == "1"


# ------------------------------------------------------------------ worker, beat, migrate


def test_the_worker_has_a_probe_a_budget_and_a_queue_length_scaler(
    rendered: list[Manifest],
) -> None:
    deployment = one(rendered, "Deployment", f"{project.SLUG}-worker")
    worker = deployment["spec"]["template"]["spec"]["containers"][0]
    assert "inspect" in worker["livenessProbe"]["exec"]["command"][-1]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    budget = one(rendered, "PodDisruptionBudget", f"{project.SLUG}-worker")
    assert budget["spec"]["selector"]["matchLabels"].items() <= labels.items()
    scaled = one(rendered, "ScaledObject", f"{project.SLUG}-worker")
    assert scaled["spec"]["scaleTargetRef"]["name"] == f"{project.SLUG}-worker"
    assert scaled["spec"]["triggers"][0]["metadata"]["listName"] == "celery"


def test_beat_runs_exactly_once(rendered: list[Manifest]) -> None:
    beat = one(rendered, "Deployment", f"{project.SLUG}-beat")
    assert beat["spec"]["replicas"] == 1
    assert beat["spec"]["strategy"] == {"type": "Recreate"}
    scaled = [
        m["spec"]["scaleTargetRef"]["name"]
        for m in rendered
        if m["kind"] in ("HorizontalPodAutoscaler", "ScaledObject")
    ]
    assert f"{project.SLUG}-beat" not in scaled


def test_the_migrate_job_is_named_after_the_release_and_runs_the_release_step(
    rendered: list[Manifest],
) -> None:
    release = release_id(rendered)
    job = one(rendered, "Job", f"{project.SLUG}-migrate-{release}")
    procfile = dict(
        line.split(": ", 1) for line in (ROOT / "Procfile").read_text().splitlines() if line
    )
    (migrate,) = job["spec"]["template"]["spec"]["containers"]
    assert migrate["command"] == procfile["release"].split()
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"


def test_a_network_policy_covers_every_pod(rendered: list[Manifest]) -> None:
    policies = objects(rendered, "NetworkPolicy").values()
    for name, template in pod_templates(rendered):
        labels = template["metadata"]["labels"]
        covering = [
            p for p in policies if p["spec"]["podSelector"]["matchLabels"].items() <= labels.items()
        ]
        assert any({"Ingress", "Egress"} <= set(p["spec"]["policyTypes"]) for p in covering), name


# ------------------------------------------------------------------ configuration


def variables_set(rendered: list[Manifest]) -> dict[str, str]:
    """Every environment variable the manifests give a container, with its value."""
    values: dict[str, str] = {}
    for manifest in rendered:
        if manifest["kind"] == "ConfigMap":
            values.update(manifest["data"])
        if manifest["kind"] == "Secret":
            values.update(dict.fromkeys(manifest.get("data", {}), "(secret)"))
    for _, container, _ in containers(rendered):
        values.update({env["name"]: env.get("value", "") for env in container.get("env", [])})
    return values


def test_every_variable_the_manifests_set_is_a_documented_setting(
    rendered: list[Manifest],
) -> None:
    documented = {name.upper() for cls in (Settings, ServerSettings) for name in cls.model_fields}
    assert set(variables_set(rendered)) <= documented


def test_the_configuration_is_valid_for_the_app(rendered: list[Manifest]) -> None:
    """A typo in a value (WEB_CONCURRENCY=two) fails here, not in a crash-looping pod."""
    values = {k.lower(): v for k, v in config(rendered).items()}
    values["app_env"] = "test"  # the secrets are examples; production's own checks refuse them
    # model_validate reads only these values, never the environment or a .env file.
    Settings.model_validate(values)
    ServerSettings.model_validate(values)


def test_secrets_come_from_a_git_ignored_file_with_an_example_committed() -> None:
    example = PRODUCTION_OVERLAY / "secrets.env.example"
    assert example.is_file()
    ignored = subprocess.run(  # noqa: S603 - our own command line
        ["git", "check-ignore", "-q", str(PRODUCTION_OVERLAY / "secrets.env")],  # noqa: S607
        cwd=ROOT,
        timeout=30,
        check=False,
    )
    assert ignored.returncode == 0, "secrets.env must be git-ignored"
    kustomization = yaml.safe_load((PRODUCTION_OVERLAY / "kustomization.yaml").read_text())
    assert kustomization["secretGenerator"][0]["envs"] == ["secrets.env"]
