"""The house rules, checked: what each package may import, and what the distribution holds."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# package folder -> module prefixes it must never import
FORBIDDEN = {
    "protocol": ("framecast.frontend", "framecast.components", "framecast.registry", "dynamo", "torch", "fastapi", "starlette"),
    # The registry's data: read by the worker and the frontend alike.
    "registry": ("framecast.frontend", "framecast.components", "dynamo", "torch", "fastapi", "starlette"),
    "frontend": ("framecast.components", "torch", "diffusers", "transformers", "av"),
    "components": ("framecast.frontend", "fastapi", "starlette", "uvicorn"),
    # Media helpers both sides import: Pillow and PyAV, nothing of framecast's.
    "media": ("framecast.protocol", "framecast.registry", "framecast.frontend", "framecast.components", "framecast.testing", "framecast.cli", "dynamo", "torch", "fastapi", "starlette"),
    # The command is a client over HTTP: none of the server's parts.
    "cli": ("framecast.frontend", "framecast.components", "dynamo", "torch", "fastapi", "starlette"),
}


# Folders that install as framecast.<folder>.
PACKAGES = ("protocol", "registry", "media", "frontend", "components", "testing", "cli")


def imported_modules(path: Path) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module)
    return modules


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_packages_import_only_what_the_layout_allows(package):
    offenders = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for module in imported_modules(path):
            if any(module == banned or module.startswith(banned + ".") for banned in FORBIDDEN[package]):
                offenders.append(f"{path.relative_to(ROOT)} imports {module}")
    assert offenders == []


def test_the_frontend_runs_without_torch():
    code = "import sys, framecast.frontend.app, framecast.frontend.__main__; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"


def test_the_wheel_holds_only_framecast(tmp_path):
    # Build from a copy: building in place would leave build/ in the checkout.
    source = tmp_path / "source"
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    for name in files:
        if not (ROOT / name).is_file():
            continue  # deleted in the working tree
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, source / name)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), str(source)],
        check=True, capture_output=True,
    )  # fmt: skip
    (wheel,) = tmp_path.glob("framecast-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top_level = {name.split("/")[0] for name in names if not name.startswith("framecast-")}
    assert top_level == {"framecast"}
    # Every module of the packages, subpackages included (a subpackage missing from pyproject's
    # list would install without its files).
    modules = [name for name in files if name.endswith(".py") and name.split("/")[0] in PACKAGES]
    assert len(modules) > 40
    missing = [module for module in modules if f"framecast/{module}" not in names]
    assert missing == []
    # The playground page's files ship with the frontend (no build step).
    page = {f"framecast/frontend/playground/{name}" for name in ("index.html", "app.js", "style.css")}
    assert page <= set(names)
