"""Only what pyproject.toml cannot say: the core's packages are discovered (a new sub-package is never
left out of the wheel), and server/ is installed as the package ``inpainterz_server``."""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["inpainterz_core", "inpainterz_core.*"]), "inpainterz_server"],
    package_dir={"inpainterz_server": "server"},
)
