"""Our E2FGVI generators compute what the reference's compute, on the golden parity cases.

Each case (``<golden>/e2fgvi_<model>/case-N.json`` + ``.npz``) holds the reference
outputs for deterministic stand-in weights (``recipe.case_state_dict``). Tolerance, from
each case's json (``tolerance.recommended_atol``: max(1e-4, 10x the reference's own
float32-vs-float64 difference)): absolute, about 3.3e-4 (CVPR22) / 1.7e-4 (HQ) on
pred_img and 1e-4 on both flows.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from golden import TraceRecorder, golden_data, one_torch_thread  # noqa: F401 (fixtures)

from bench.golden import GOLDEN, Case, case, cases, manifest_keys
from inpainterz_core.inpaint.e2fgvi import build_e2fgvi

MODELS = {"e2fgvi_cvpr22": "cvpr22", "e2fgvi_hq": "hq"}

# Skipped where ../shared/golden is absent, failed under CI (golden.need_golden).
pytestmark = pytest.mark.usefixtures("golden_data")


def _cases() -> list[tuple[str, Case]]:
    return [(variant, found) for model_dir, variant in MODELS.items() for found in cases(model_dir)]


def _max_errors(model: torch.nn.Module, golden_case: Case) -> dict[str, float]:
    """Max absolute difference of each output from the golden one, running the case's forward call."""
    arrays = golden_case.arrays()
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


def _tolerances(golden_case: Case) -> dict[str, float]:
    atol = golden_case.info["tolerance"]["recommended_atol"]
    flows = atol["pred_flows"]
    return {"pred_img": atol["pred_img"], "pred_flows_forward": flows, "pred_flows_backward": flows}


def test_golden_cases_exist():
    found = {variant for variant, _ in _cases()}
    assert found == set(MODELS.values()), f"missing golden cases under {GOLDEN}"


@pytest.mark.parametrize("model_dir,variant", MODELS.items())
def test_state_dict_matches_manifest(model_dir, variant):
    ours = [
        [name, list(t.shape), str(t.dtype).removeprefix("torch.")]
        for name, t in build_e2fgvi(variant).state_dict().items()
    ]
    assert ours == manifest_keys(model_dir)


@pytest.mark.parametrize("variant,golden_case", _cases(), ids=str)
def test_matches_reference(variant, golden_case):
    errors = _max_errors(golden_case.load_into(build_e2fgvi(variant)), golden_case)
    tolerances = _tolerances(golden_case)
    for name, error in errors.items():
        assert error <= tolerances[name], f"{name}: max abs error {error:.3g} > {tolerances[name]:.3g}"


@pytest.mark.parametrize("variant,golden_case", _cases(), ids=str)
def test_perturbed_weights_fail_the_comparison(variant, golden_case):
    """The comparison can fail: 1e-2 added to one transformer layer's weights moves pred_img past tolerance."""
    model = golden_case.load_into(build_e2fgvi(variant))
    with torch.no_grad():
        model.transformer[3].mlp.conv2[1].weight.add_(1e-2)
    errors = _max_errors(model, golden_case)
    assert errors["pred_img"] > _tolerances(golden_case)["pred_img"]


def _trace_problems(model, model_dir: str) -> tuple[list[str], int]:
    recorder = TraceRecorder(model, case(model_dir))
    _max_errors(model, case(model_dir))
    recorder.close()
    return recorder.compare(tags_are_calls=True)


@pytest.mark.parametrize("model_dir,variant", MODELS.items())
def test_layer_traces_match_reference(model_dir, variant):
    """The stored activations of case 1, layer by layer, so a mismatch names the layer where it starts."""
    problems, compared = _trace_problems(case(model_dir).load_into(build_e2fgvi(variant)), model_dir)
    assert compared >= 15, f"only {compared} traced layers were compared"
    assert not problems, f"first mismatch: {problems[0]} ({len(problems)} in all: {problems})"


def test_a_wrong_layer_is_named_by_the_trace():
    model = case("e2fgvi_hq").load_into(build_e2fgvi("hq"))
    with torch.no_grad():
        model.encoder.layers[8].weight.mul_(1.05)  # the conv whose LeakyReLU is traced as encoder.layers.9
    problems, _ = _trace_problems(model, "e2fgvi_hq")
    assert problems and problems[0].startswith("encoder.layers.9:out"), problems[:2]
