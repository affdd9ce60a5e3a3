"""Where the golden parity data is, and its weight recipe, for the model benches."""

import importlib.util
import os
from pathlib import Path

GOLDEN = Path(
    os.environ.get("INPAINTERZ_GOLDEN_DIR") or Path(__file__).resolve().parents[2] / "shared" / "golden"
)


def recipe():
    """The golden folder's recipe.py as a module (``case_state_dict`` builds a case's weights)."""
    spec = importlib.util.spec_from_file_location("golden_recipe", GOLDEN / "recipe.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
