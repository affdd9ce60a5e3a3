"""The extension zip as users install it: Blender's own validator accepts it, it bundles pyzmq and
msgpack for every platform it names and for both Pythons of current Blenders (3.11 in 4.2 to 5.0,
3.13 from 5.1 on), and the installed add-on runs on those wheels alone."""

import pathlib
import subprocess
import sys
import tomllib
import zipfile

import bpy

PYTHONS = ("cp311", "cp313")
#: manifest platform -> the wheel platform tags that serve it
PLATFORM_TAGS = {
    "linux-x64": ("manylinux_2_28_x86_64",),
    "linux-arm64": ("manylinux_2_28_aarch64",),
    "windows-x64": ("win_amd64",),
    "macos-arm64": ("arm64", "universal2"),
    "macos-x64": ("x86_64", "universal2"),
}


def test_blenders_validator_accepts_the_zip(extension_zip):
    cli = (
        pathlib.Path(bpy.utils.system_resource("SCRIPTS"))
        / "addons_core"
        / "bl_pkg"
        / "cli"
        / "blender_ext.py"
    )
    run = subprocess.run(
        [sys.executable, str(cli), "validate", str(extension_zip)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0 and "error" not in run.stdout.lower(), run.stdout + run.stderr


def test_wheels_for_every_platform_and_python(extension_zip):
    with zipfile.ZipFile(extension_zip) as z:
        manifest = tomllib.loads(z.read("blender_manifest.toml").decode())
        wheels = {name for name in z.namelist() if name.endswith(".whl")}
    assert {w.removeprefix("./") for w in manifest["wheels"]} == wheels
    missing = [
        f"{package} {python} {platform}"
        for platform in manifest["platforms"]
        for python in PYTHONS
        for package in ("pyzmq", "msgpack")
        if not any(serves(w, package, python, platform) for w in wheels)
    ]
    assert not missing


def serves(wheel, package, python, platform):
    """Whether `wheel` installs `package` for CPython `python` (e.g. "cp313") on a manifest platform,
    as Blender picks wheels: the same CPython, or the stable ABI (abi3) of that one or an older one."""
    name, _, python_tag, abi_tag, platform_tag = wheel.removeprefix("wheels/").removesuffix(".whl").split("-")
    same = python_tag == abi_tag == python
    stable = abi_tag == "abi3" and int(python_tag[2:]) <= int(python[2:])
    return (
        name == package and (same or stable) and any(tag in platform_tag for tag in PLATFORM_TAGS[platform])
    )


def test_the_add_on_runs_on_its_bundled_wheels(addon):
    extensions = pathlib.Path(bpy.utils.user_resource("EXTENSIONS"))
    for module in (addon.remote.client.zmq, addon.remote.protocol.msgpack):
        assert extensions in pathlib.Path(module.__file__).parents, module.__file__
    # This environment, like Blender's Python, has neither of its own.
    own = subprocess.run([sys.executable, "-c", "import zmq"], capture_output=True, timeout=60)
    assert own.returncode != 0
