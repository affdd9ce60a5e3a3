"""The golden parity cases (``../shared/golden``, conventions in its README): the one loader.

The parity tests, the model-backend tests and the model benches all read these cases through here.
It lives in ``bench/`` because that is a package importable from the repository root, where both
``python -m bench.<bench>`` and ``python -m pytest`` run; ``tests/`` is not a package, and
``inpainterz_core`` ships in the wheel, which has no business knowing about development data.
torch is imported only where weights are built, so asking where the data is costs nothing.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import re
from pathlib import Path
from types import ModuleType

import numpy as np

GOLDEN = Path(
    os.environ.get("INPAINTERZ_GOLDEN_DIR") or Path(__file__).resolve().parents[2] / "shared" / "golden"
)


@functools.cache
def recipe() -> ModuleType:
    """The golden folder's ``recipe.py`` as a module: it builds the stand-in weights."""
    spec = importlib.util.spec_from_file_location("golden_recipe", GOLDEN / "recipe.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _tensors(state: dict[str, np.ndarray]) -> dict:
    import torch

    return {name: torch.from_numpy(value) for name, value in state.items()}


def manifest_keys(model_dir: str) -> list:
    """The official checkpoint's ``[name, shape, dtype]`` list, in ``state_dict()`` order."""
    return json.loads((GOLDEN / model_dir / "manifest.json").read_text())["keys"]


def recipe_weights(model_dir: str, seed: int, gain: float = 1.0) -> dict:
    """Stand-in weights of the checkpoint's exact shape (torch tensors), for tests that need any weights."""
    return _tensors(recipe().recipe_state_dict(str(GOLDEN / model_dir / "manifest.json"), seed, gain))


class Case:
    """One case, ``<model_dir>/case-N``: how the reference was run (``info``), its arrays and its weights."""

    def __init__(self, case_json: Path):
        self.json_path = case_json
        self.name = case_json.stem

    @functools.cached_property
    def info(self) -> dict:
        """The case's json: shapes, call sequence, tolerance, the reference's CPU time."""
        return json.loads(self.json_path.read_text())

    def __repr__(self) -> str:
        return f"{self.json_path.parent.name}/{self.name}"

    def arrays(self) -> dict[str, np.ndarray]:
        """Inputs and expected outputs, read whole (the files are a few MB)."""
        with np.load(self.json_path.with_suffix(".npz")) as npz:
            return dict(npz)

    def weights(self) -> dict:
        """The case's stand-in weights (torch tensors), its ``override:`` buffers applied."""
        return _tensors(recipe().case_state_dict(str(self.json_path)))

    def load_into(self, model):
        """``model`` with the case's weights loaded strictly (every key, every shape), for chaining."""
        model.load_state_dict(self.weights(), strict=True)
        return model

    @property
    def trace_json(self) -> Path:
        return self.json_path.with_name(f"{self.name}-trace.json")

    @property
    def trace_npz(self) -> Path:
        return self.json_path.with_name(f"{self.name}-trace.npz")


def cases(model_dir: str) -> list[Case]:
    """The cases of one model folder in order (``case-N.json`` only, not traces); none where it is absent."""
    folder = GOLDEN / model_dir
    if not folder.is_dir():
        return []
    found = [p for p in folder.glob("case-*.json") if re.fullmatch(r"case-\d+\.json", p.name)]
    return [Case(p) for p in sorted(found, key=lambda p: int(p.stem.removeprefix("case-")))]


def case(model_dir: str, number: int = 1) -> Case:
    return Case(GOLDEN / model_dir / f"case-{number}.json")
