"""Our E2FGVI generators compute what the reference's compute, on the golden parity cases.

Each case (``<golden>/e2fgvi_<model>/case-N.json`` + ``.npz``) holds the reference
outputs for deterministic stand-in weights (``recipe.case_state_dict``). Tolerance, from
each case's json (``tolerance.recommended_atol``: max(1e-4, 10x the reference's own
float32-vs-float64 difference)): absolute, about 3.3e-4 (CVPR22) / 1.7e-4 (HQ) on
pred_img and 1e-4 on both flows.
"""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from golden import GOLDEN, TraceRecorder, golden_data, one_torch_thread  # noqa: F401 (fixtures)

from inpainterz_core.inpaint.e2fgvi import build_e2fgvi

MODELS = {"e2fgvi_cvpr22": "cvpr22", "e2fgvi_hq": "hq"}

# Skipped where ../shared/golden is absent, failed under CI (golden.need_golden).
pytestmark = pytest.mark.usefixtures("golden_data")


def _cases() -> list[tuple[str, Path]]:
    if not GOLDEN.is_dir():
        return []
    return [
        (variant, case)
        for model_dir, variant in MODELS.items()
        for case in sorted((GOLDEN / model_dir).glob("case-*.json"))
        if re.fullmatch(r"case-\d+\.json", case.name)
    ]


def _recipe():
    spec = importlib.util.spec_from_file_location("golden_recipe", GOLDEN / "recipe.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _model_for_case(variant: str, case_json: Path) -> torch.nn.Module:
    model = build_e2fgvi(variant)
    state = _recipe().case_state_dict(str(case_json))
    model.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()}, strict=True)
    return model


def _max_errors(model: torch.nn.Module, case_json: Path) -> dict[str, float]:
    """Max absolute difference of each output from the golden one, running the case's forward call."""
    with np.load(case_json.with_suffix(".npz")) as npz:
        arrays = dict(npz)
    with torch.inference_mode():
        pred, (flows_forward, flows_backward) = model(
            torch.from_numpy(arrays["masked_frames"]), int(arrays["num_local_frames"])
        )
    ours = {"pred_img": pred, "pred_flows_forward": flows_forward, "pred_flows_backward": flows_backward}
    errors = {}
    for name, tensor in ours.items():
        assert tuple(tensor.shape) == arrays[name].shape, name
        errors[name] = float(np.abs(tensor.numpy() - arrays[name]).max())
    return errors


def _tolerances(case_json: Path) -> dict[str, float]:
    atol = json.loads(case_json.read_text())["tolerance"]["recommended_atol"]
    flows = atol["pred_flows"]
    return {"pred_img": atol["pred_img"], "pred_flows_forward": flows, "pred_flows_backward": flows}


def test_golden_cases_exist():
    found = {variant for variant, _ in _cases()}
    assert found == set(MODELS.values()), f"missing golden cases under {GOLDEN}"


@pytest.mark.parametrize("model_dir,variant", MODELS.items())
def test_state_dict_matches_manifest(model_dir, variant):
    manifest = json.loads((GOLDEN / model_dir / "manifest.json").read_text())
    ours = [
        [name, list(t.shape), str(t.dtype).removeprefix("torch.")]
        for name, t in build_e2fgvi(variant).state_dict().items()
    ]
    assert ours == manifest["keys"]


@pytest.mark.parametrize("variant,case_json", _cases(), ids=lambda v: v.name if isinstance(v, Path) else v)
def test_matches_reference(variant, case_json):
    errors = _max_errors(_model_for_case(variant, case_json), case_json)
    tolerances = _tolerances(case_json)
    for name, error in errors.items():
        assert error <= tolerances[name], f"{name}: max abs error {error:.3g} > {tolerances[name]:.3g}"


@pytest.mark.parametrize("variant,case_json", _cases(), ids=lambda v: v.name if isinstance(v, Path) else v)
def test_perturbed_weights_fail_the_comparison(variant, case_json):
    """The comparison can fail: 1e-2 added to one transformer layer's weights moves pred_img past tolerance."""
    model = _model_for_case(variant, case_json)
    with torch.no_grad():
        model.transformer[3].mlp.conv2[1].weight.add_(1e-2)
    errors = _max_errors(model, case_json)
    assert errors["pred_img"] > _tolerances(case_json)["pred_img"]


def _trace_problems(model, model_dir: str) -> tuple[list[str], int]:
    case_json = GOLDEN / model_dir / "case-1.json"
    recorder = TraceRecorder(model, GOLDEN / model_dir / "case-1-trace.json")
    _max_errors(model, case_json)
    recorder.close()
    return recorder.compare(GOLDEN / model_dir / "case-1-trace.npz", tags_are_calls=True)


@pytest.mark.parametrize("model_dir,variant", MODELS.items())
def test_layer_traces_match_reference(model_dir, variant):
    """The stored activations of case 1, layer by layer, so a mismatch names the layer where it starts."""
    problems, compared = _trace_problems(
        _model_for_case(variant, GOLDEN / model_dir / "case-1.json"), model_dir
    )
    assert compared >= 15, f"only {compared} traced layers were compared"
    assert not problems, f"first mismatch: {problems[0]} ({len(problems)} in all: {problems})"


def test_a_wrong_layer_is_named_by_the_trace():
    model = _model_for_case("hq", GOLDEN / "e2fgvi_hq" / "case-1.json")
    with torch.no_grad():
        model.encoder.layers[8].weight.mul_(1.05)  # the conv whose LeakyReLU is traced as encoder.layers.9
    problems, _ = _trace_problems(model, "e2fgvi_hq")
    assert problems and problems[0].startswith("encoder.layers.9:out"), problems[:2]
