"""The wheel holds every module of the tree, each importable from the wheel alone, built without warnings."""

import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def tree_modules() -> set[str]:
    core = {
        ".".join(p.relative_to(REPO).with_suffix("").parts) for p in (REPO / "inpainterz_core").rglob("*.py")
    }
    server = {f"inpainterz_server.{p.stem}" for p in (REPO / "server").glob("*.py")}
    return {m.removesuffix(".__init__") for m in core | server}


def test_the_wheel_has_every_module_and_each_imports_from_it(tmp_path):
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path / "dist"),
            str(REPO),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr
    assert "Deprecat" not in built.stdout + built.stderr, built.stdout + built.stderr
    (wheel,) = (tmp_path / "dist").glob("inpainterz-*.whl")
    unpacked = tmp_path / "wheel"
    with zipfile.ZipFile(wheel) as z:
        z.extractall(unpacked)
        assert any(name.endswith("licenses/LICENSE") for name in z.namelist())
    in_wheel = {
        ".".join(p.relative_to(unpacked).with_suffix("").parts).removesuffix(".__init__")
        for p in unpacked.rglob("*.py")
    }
    assert in_wheel == tree_modules()

    check = (
        "import importlib, sys\n"
        f"root = {str(unpacked)!r}\n"
        "for name in sys.argv[1:]:\n"
        "    module = importlib.import_module(name)\n"
        "    assert module.__file__.startswith(root), (name, module.__file__)\n"
    )
    importable = sorted(m for m in in_wheel if not m.endswith("__main__"))  # __main__ runs the program
    imported = subprocess.run(
        [sys.executable, "-c", check, *importable],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(unpacked), "PATH": "/usr/bin:/bin"},
        timeout=300,
    )
    assert imported.returncode == 0, imported.stderr[-3000:]
