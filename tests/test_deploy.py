"""The Kubernetes manifests: every overlay renders (kubectl kustomize, offline) and passes
kubernetes-validate --strict; and what schemas cannot see holds: GPUs match the parallel
degree, probes point at routes that exist, the NetworkPolicy selects the workers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml

from framecast.testing.stack import Discovery, free_status_port, stack_env, start_worker

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
OVERLAYS = ["wan-1b", "wan-14b-tp2", "cpu-tiny", "multi-model"]


def render(overlay: str) -> list[dict]:
    result = subprocess.run(
        [str(BIN / "kubectl"), "kustomize", str(ROOT / "deploy" / "overlays" / overlay)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return [document for document in yaml.safe_load_all(result.stdout) if document]


def find(objects: list[dict], kind: str, name: str) -> dict:
    (match,) = [item for item in objects if item["kind"] == kind and item["metadata"]["name"] == name]
    return match


def container(objects: list[dict], deployment: str) -> dict:
    return find(objects, "Deployment", deployment)["spec"]["template"]["spec"]["containers"][0]


def worker_deployments(objects: list[dict]) -> list[dict]:
    """Every worker Deployment: one, or one per model (multi-model)."""
    return [
        item for item in objects
        if item["kind"] == "Deployment" and item["spec"]["template"]["metadata"]["labels"].get("app.kubernetes.io/component") == "worker"
    ]  # fmt: skip


def flag(args: list[str], name: str) -> str | None:
    for arg in args:
        if arg.startswith(f"--{name}="):
            return arg.split("=", 1)[1]
    return None


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_overlay_passes_strict_validation(overlay, tmp_path):
    rendered = tmp_path / f"{overlay}.yaml"
    rendered.write_text(
        subprocess.run(
            [str(BIN / "kubectl"), "kustomize", str(ROOT / "deploy" / "overlays" / overlay)],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
    )
    result = subprocess.run(
        [str(BIN / "kubernetes-validate"), "--strict", "--kubernetes-version", "1.37.0", str(rendered)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "did not validate" not in result.stdout


def test_strict_validation_catches_a_misspelled_field(tmp_path):
    """The validation above can fail: a typo in a field name is refused."""
    text = subprocess.run(
        [str(BIN / "kubectl"), "kustomize", str(ROOT / "deploy" / "overlays" / "wan-1b")],
        capture_output=True, text=True, check=True,
    ).stdout.replace("readinessProbe:", "readinesProbe:", 1)  # fmt: skip
    (tmp_path / "typo.yaml").write_text(text)
    result = subprocess.run([str(BIN / "kubernetes-validate"), "--strict", str(tmp_path / "typo.yaml")], capture_output=True)
    assert result.returncode != 0


@pytest.mark.parametrize(("overlay", "gpus", "model"), [
    ("wan-1b", 1, "Wan-AI/Wan2.1-T2V-1.3B-Diffusers"),
    ("wan-14b-tp2", 2, "Wan-AI/Wan2.1-T2V-14B-Diffusers"),
    ("cpu-tiny", 0, "/opt/framecast/models/tiny-random-t2v"),
])  # fmt: skip
def test_the_worker_requests_as_many_gpus_as_its_parallel_degree(overlay, gpus, model):
    worker = container(render(overlay), "framecast-worker")
    args = worker["args"]
    assert flag(args, "model-path") == model
    degree = max(int(flag(args, "tp") or 1), int(flag(args, "num-gpus") or 1)) if gpus else 0
    assert degree == gpus
    for section in ("requests", "limits"):
        assert int(worker["resources"].get(section, {}).get("nvidia.com/gpu", 0)) == gpus, section


def test_multi_model_runs_one_worker_deployment_per_model_behind_one_frontend():
    objects = render("multi-model")
    assert len([item for item in objects if item["kind"] == "Deployment" and item["metadata"]["name"] == "framecast-frontend"]) == 1
    workers = {worker["metadata"]["name"]: worker for worker in worker_deployments(objects)}
    expected = {
        "framecast-worker-wan-1b": ("Wan-AI/Wan2.1-T2V-1.3B-Diffusers", 1),
        "framecast-worker-flux-schnell": ("black-forest-labs/FLUX.1-schnell", 1),
        "framecast-worker-i2v-480p": ("Wan-AI/Wan2.1-I2V-14B-480P-Diffusers", 2),
    }
    assert set(workers) == set(expected)
    for name, (model, gpus) in expected.items():
        spec = workers[name]["spec"]
        worker = spec["template"]["spec"]["containers"][0]
        assert flag(worker["args"], "model-path") == model and int(flag(worker["args"], "tp")) == gpus
        for section in ("requests", "limits"):
            assert int(worker["resources"][section]["nvidia.com/gpu"]) == gpus
        # Each selects its own pods only, and keeps its own model cache.
        for other_name, other in workers.items():
            labels = other["spec"]["template"]["metadata"]["labels"]
            assert (spec["selector"]["matchLabels"].items() <= labels.items()) == (other_name == name)
        claim = next(v for v in spec["template"]["spec"]["volumes"] if v["name"] == "model-cache")["persistentVolumeClaim"]["claimName"]
        find(objects, "PersistentVolumeClaim", claim)
    assert len([item for item in objects if item["kind"] == "PersistentVolumeClaim"]) == len(expected)


def frontend_openapi() -> dict:
    from framecast.frontend.app import FrontendSettings, create_app

    return create_app(FrontendSettings()).openapi()


def frontend_routes() -> set[str]:
    return set(frontend_openapi()["paths"])


def test_every_operation_has_its_own_id():
    # Client generators name a method after its operation id: a shared one loses a method.
    ids = [operation["operationId"] for path in frontend_openapi()["paths"].values() for operation in path.values()]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_frontend_probes_point_at_routes_it_serves(overlay):
    objects = render(overlay)
    frontend = container(objects, "framecast-frontend")
    ports = {port["name"]: port["containerPort"] for port in frontend["ports"]}
    routes = frontend_routes()
    assert frontend["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert frontend["livenessProbe"]["httpGet"]["path"] == "/health"
    for probe in ("readinessProbe", "livenessProbe"):
        get = frontend[probe]["httpGet"]
        assert get["path"] in routes and ports[get["port"]] == int(flag(frontend["args"], "port"))
    assert find(objects, "Deployment", "framecast-frontend")["spec"]["replicas"] == 2
    selector = find(objects, "PodDisruptionBudget", "framecast-frontend")["spec"]["selector"]["matchLabels"]
    labels = find(objects, "Deployment", "framecast-frontend")["spec"]["template"]["metadata"]["labels"]
    assert selector.items() <= labels.items()


def test_worker_probes_point_at_routes_the_runtime_serves(tiny_model, tmp_path):
    """The worker's probes hit the Dynamo runtime's status server, on the port the ConfigMap
    gives it: start a worker the same way and ask those routes."""
    objects = render("cpu-tiny")
    worker = container(objects, "framecast-worker")
    config = find(objects, "ConfigMap", "framecast-config")["data"]
    ports = {port["name"]: port["containerPort"] for port in worker["ports"]}
    probes = [worker[name]["httpGet"] for name in ("startupProbe", "readinessProbe", "livenessProbe")]
    assert {ports[probe["port"]] for probe in probes} == {int(config["DYN_SYSTEM_PORT"])}
    status_port = free_status_port()
    discovery = Discovery("file", stack_env("file", None, tmp_path / "kv"))
    discovery.env.update(DYN_SYSTEM_PORT=str(status_port), DYN_SYSTEM_HOST="127.0.0.1")
    process = start_worker(discovery, tiny_model, "fc-probes", (tmp_path / "out").as_uri(), tmp_path, "worker")
    try:
        process.wait_for_log("framecast worker ready")
        for probe in probes:
            response = httpx.get(f"http://127.0.0.1:{status_port}{probe['path']}", timeout=10)
            assert response.status_code == 200, (probe, response.text)
    finally:
        process.stop()


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_network_policy_admits_only_frontends_to_the_workers_request_plane(overlay):
    objects = render(overlay)
    policy = find(objects, "NetworkPolicy", "framecast-worker")["spec"]
    frontend_labels = find(objects, "Deployment", "framecast-frontend")["spec"]["template"]["metadata"]["labels"]
    assert not policy["podSelector"]["matchLabels"].items() <= frontend_labels.items()
    assert policy["policyTypes"] == ["Ingress"]
    config = find(objects, "ConfigMap", "framecast-config")["data"]
    request_plane = int(config["DYN_TCP_RPC_PORT"])
    rules = [rule for rule in policy["ingress"] if any(port["port"] == request_plane for port in rule["ports"])]
    (rule,) = rules
    (source,) = rule["from"]
    assert source["podSelector"]["matchLabels"].items() <= frontend_labels.items()
    workers = worker_deployments(objects)
    assert workers
    for worker in workers:
        worker_labels = worker["spec"]["template"]["metadata"]["labels"]
        assert policy["podSelector"]["matchLabels"].items() <= worker_labels.items()
        assert request_plane in {port["containerPort"] for port in worker["spec"]["template"]["spec"]["containers"][0]["ports"]}
        assert not source["podSelector"]["matchLabels"].items() <= worker_labels.items()


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_secrets_are_referenced_never_written(overlay):
    objects = render(overlay)
    assert not [item for item in objects if item["kind"] == "Secret"]
    deployments = [find(objects, "Deployment", "framecast-frontend"), *worker_deployments(objects)]
    names = {
        entry["valueFrom"]["secretKeyRef"]["name"]
        for deployment in deployments
        for entry in deployment["spec"]["template"]["spec"]["containers"][0]["env"]
        if "secretKeyRef" in entry.get("valueFrom", {})
    }
    assert names == {"framecast-s3", "framecast-api-keys", "framecast-webhooks"}
    etcd = find(objects, "StatefulSet", "framecast-etcd")["spec"]
    assert etcd["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"]
    for worker in worker_deployments(objects):
        shm = next(volume for volume in worker["spec"]["template"]["spec"]["volumes"] if volume["name"] == "dshm")
        assert shm["emptyDir"]["medium"] == "Memory"


def test_the_dockerfile_installs_with_the_readme_command():
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    readme = (ROOT / "README.md").read_text()
    assert "bash launch/install.sh" in readme
    assert "RUN bash launch/install.sh ${INSTALL_ARGS}" in dockerfile
