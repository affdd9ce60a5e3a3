"""Build the Blender extension zip (`make addon`); the tests stage the package the same way.

Not part of the extension. The add-on talks to the server through `server/protocol.py`,
`server/client.py` and `server/curve.py` (encryption); they are copied into the package as
`inpainterz/remote/` at build time so there is one copy of each in the repository.

    python addon/build.py --stage build/addon            # package folder only (tests)
    python addon/build.py --stage build/addon --zip dist  # plus dist/inpainterz-<version>.zip
"""

import argparse
import pathlib
import re
import shutil
import sys
import zipfile

ADDON = pathlib.Path(__file__).resolve().parent
SERVER = ADDON.parent / "server"
PACKAGE_FILES = [
    "blender_manifest.toml",
    "__init__.py",
    "compat.py",
    "connection.py",
    "frames.py",
    "geometry.py",
    "props.py",
    "operators.py",
    "overlay.py",
    "panels.py",
    "strips.py",
]
REMOTE_FILES = ["protocol.py", "client.py", "curve.py"]


def manifest_field(name):
    match = re.search(rf'^{name}\s*=\s*"([^"]*)"', (ADDON / "blender_manifest.toml").read_text(), re.M)
    return match.group(1)


def manifest_wheels():
    text = (ADDON / "blender_manifest.toml").read_text()
    block = re.search(r"^wheels\s*=\s*\[(.*?)\]", text, re.M | re.S).group(1)
    return re.findall(r'"\./(wheels/[^"]+\.whl)"', block)


def stage(dest):
    """Write the package folder `dest/inpainterz` (without wheels) and return its path."""
    package = pathlib.Path(dest) / manifest_field("id")
    if package.exists():
        shutil.rmtree(package)
    (package / "remote").mkdir(parents=True)
    for name in PACKAGE_FILES:
        shutil.copy2(ADDON / name, package / name)
    (package / "remote" / "__init__.py").write_text(
        '"""The server\'s protocol and client, copied at build time."""\n'
    )
    for name in REMOTE_FILES:
        shutil.copy2(SERVER / name, package / "remote" / name)
    return package


def build_zip(package, out_dir):
    """Zip the staged package with the wheels the manifest lists; manifest at the zip's root."""
    wheels = manifest_wheels()
    missing = [w for w in wheels if not (ADDON / w).is_file()]
    if missing:
        sys.exit("missing wheels (run `make addon`): " + ", ".join(missing))
    out = pathlib.Path(out_dir) / f"{manifest_field('id')}-{manifest_field('version')}.zip"
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for path in sorted(package.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                z.write(path, path.relative_to(package).as_posix())
        for wheel in wheels:
            z.write(ADDON / wheel, wheel)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", required=True, help="folder to write the package folder into")
    parser.add_argument("--zip", help="folder to write the extension zip into")
    args = parser.parse_args()
    package = stage(args.stage)
    print(build_zip(package, args.zip) if args.zip else package)


if __name__ == "__main__":
    main()
