"""The desktop bundle's pieces that can be checked without building it (PyInstaller not needed):
the spec's files exist, the scripts parse, the desktop entry and icon are sound, and the app says
what it lacks when torchvision cannot be imported (as in the bundle)."""

from __future__ import annotations

import ast
import configparser
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from cephview.bundle import help_epilog, torchvision_missing_message, version_text
from cephview.cli import main
from cephview.core.errors import CephviewError

REPO = Path(__file__).resolve().parent.parent
SPEC = REPO / "build_installer.spec"


def _spec_paths() -> list[Path]:
    """Every ``root / "a" / "b"`` expression in the spec, as a path under the repository."""
    paths = []
    for node in ast.walk(ast.parse(SPEC.read_text(encoding="utf-8"), str(SPEC))):
        parts = []
        while isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div) and isinstance(node.right, ast.Constant):
            parts.append(node.right.value)
            node = node.left
        if parts and isinstance(node, ast.Name) and node.id == "root":
            paths.append(REPO.joinpath(*reversed(parts)))
    return paths


def _block_torchvision(monkeypatch) -> None:
    """Make ``import torchvision`` fail as in the bundle, also after another test imported it."""
    for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "torchvision", None)


def test_the_spec_parses_and_names_files_that_exist():
    paths = _spec_paths()
    assert REPO / "cephview" / "__main__.py" in paths
    assert REPO / "resources" in paths and REPO / "models" in paths
    assert [p for p in paths if not p.exists()] == []


def test_the_entry_script_starts_the_frozen_worker_before_the_command_line():
    tree = ast.parse((REPO / "cephview" / "__main__.py").read_text(encoding="utf-8"))
    calls = [ast.unparse(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)]
    assert calls.index("multiprocessing.freeze_support") < calls.index("main")


@pytest.mark.parametrize("script", ["build_installer.sh", "check_installer.sh", "install_desktop_entry.sh"])
def test_the_scripts_parse(script):
    path = REPO / "scripts" / script
    assert path.stat().st_mode & 0o111, f"{script} is not executable"
    subprocess.run(["bash", "-n", str(path)], check=True)


def test_the_desktop_entry_and_icon():
    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str  # keys are case-sensitive
    entry.read(REPO / "resources" / "cephview.desktop", encoding="utf-8")
    section = entry["Desktop Entry"]
    assert section["Type"] == "Application" and section["Exec"].split()[0] == "cephview"
    icons = REPO / "resources" / "icons"
    assert (icons / f"{section['Icon']}.svg").is_file()
    with Image.open(icons / f"{section['Icon']}.png") as png:
        assert png.size == (256, 256) and png.mode == "RGBA"


def test_development_install_version_is_plain():
    assert version_text("1.2.3") == "cephview 1.2.3"


def test_the_bundle_says_what_it_lacks(monkeypatch, capsys):
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    _block_torchvision(monkeypatch)
    assert version_text("0.1.0") == "cephview 0.1.0 (desktop bundle: CPU-only PyTorch, no torchvision)"
    with pytest.raises(SystemExit):
        main(["--help"])
    assert help_epilog() in " ".join(capsys.readouterr().out.split())
    with pytest.raises(SystemExit):
        main(["--version"])
    assert "desktop bundle" in capsys.readouterr().out


def test_resnet18_without_torchvision_is_a_one_line_error(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    _block_torchvision(monkeypatch)
    code = main(["train", "--images", str(tmp_path), "--annotations", str(tmp_path / "a.csv"),
                 "--out", str(tmp_path / "m.pt"), "--encoder", "resnet18"])
    assert code == 2
    assert capsys.readouterr().err == (
        "cephview: error: the ResNet-18 encoder needs torchvision, which this bundle does not include\n")

    from cephview.model.encoders import build_encoder

    with pytest.raises(CephviewError, match="needs torchvision, which this bundle does not include"):
        build_encoder("resnet18")
    assert build_encoder("efficientnet_lite0", pretrained=True).channels[-1] == 320


def test_a_development_install_names_the_import_failure(monkeypatch):
    _block_torchvision(monkeypatch)
    from cephview.model.encoders import build_encoder

    with pytest.raises(CephviewError, match=r"cannot be imported here \(ModuleNotFoundError: .*efficientnet_lite0"):
        build_encoder("resnet18")
    assert "bundle" not in torchvision_missing_message()


@pytest.mark.slow
def test_finding_a_projects_active_model_does_not_import_torch(tmp_path):
    """Opening a project in the window reads its active model's path in the GUI thread before the
    window is drawn; importing torch there took 9 s in the bundle on a busy machine."""
    script = f"""
import sys
from cephview.core.store import ProjectStore
from cephview.model.registry import ModelRegistry
with ProjectStore.open({str(tmp_path)!r}) as store:
    store.set_setting("model_registry", {{"active": "v1", "versions": [{{"version": "v1", "file": "models/v1.pt"}}]}})
    print(ModelRegistry(store).active_path().name, "torch" in sys.modules)
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(REPO)}).stdout
    assert out.split() == ["v1.pt", "False"]
