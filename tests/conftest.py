from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from framecast.testing.stack import Discovery, EtcdServer, stack_env


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """The tiny random Wan2.1 model, built offline by the project's own command."""
    path = tmp_path_factory.mktemp("models") / "tiny-random-t2v"
    subprocess.run(
        [sys.executable, "-m", "framecast.components.tiny_model", str(path)], check=True, capture_output=True
    )
    assert (path / "model_index.json").is_file()
    return path


@pytest.fixture(scope="session")
def tiny_models(tiny_model, tmp_path_factory):
    """kind (t2v, i2v, ti2v, t2i) -> the tiny random model of that kind, each built once, in a
    folder named as the registry's alias for it (tiny-random-<kind>)."""
    root = tmp_path_factory.mktemp("tiny-models")
    built = {"t2v": tiny_model}

    def model(kind: str) -> Path:
        if kind not in built:
            path = root / f"tiny-random-{kind}"
            command = [sys.executable, "-m", "framecast.components.tiny_model", str(path), "--kind", kind]
            subprocess.run(command, check=True, capture_output=True)
            built[kind] = path
        return built[kind]

    return model


@pytest.fixture(scope="module", params=["file", "etcd"])
def discovery(request, tmp_path_factory):
    """Each stack test module runs once with file discovery and once with a real etcd server."""
    root = tmp_path_factory.mktemp(f"discovery-{request.param}")
    if request.param == "file":
        yield Discovery("file", stack_env("file", None, root / "kv"))
        return
    etcd = EtcdServer(root / "etcd-data", root)
    try:
        yield Discovery("etcd", stack_env("etcd", etcd.url, None))
    finally:
        etcd.stop()
