"""What the parity and model-backend tests share beyond the cases themselves (read by ``bench.golden``):
a skip-or-fail when the data is absent, one torch thread, and the layer-trace comparison."""

import json
import os
import re

import numpy as np
import pytest
import torch

from bench.golden import GOLDEN, Case


@pytest.fixture(autouse=True)
def one_torch_thread():
    """One thread: on the shared 2-core machine, two contended OpenMP threads mostly measure the contention."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def need_golden() -> None:
    """Skip where the golden data is absent; under CI (which always has ../shared) fail instead of passing quietly."""
    if GOLDEN.is_dir():
        return
    if os.environ.get("CI"):
        pytest.fail(f"golden parity data not found at {GOLDEN}: CI always has ../shared/golden")
    pytest.skip(f"golden parity data not found at {GOLDEN}")


@pytest.fixture
def golden_data():
    need_golden()
    return GOLDEN


# --- layer traces: where a mismatch starts -----------------------------------------------------------------

_TRACE_NAME = re.compile(r"(?P<module>[^#:]+)(?:#(?P<tag>[^:]+))?:(?P<what>.+)")


class TraceRecorder:
    """Records every output of the traced modules of ``model``, keyed (module, tag, call number).

    ``tag`` is what the test sets before each phase (DeAOT's ref / t1 / t1mem), None otherwise;
    outputs are cloned, as the reference's hooks did, so later in-place activations do not show.
    """

    def __init__(self, model, case: Case):
        self.case = case
        self.arrays = json.loads(case.trace_json.read_text())["arrays"]
        modules = dict(model.named_modules())
        self.tag = None
        self.outputs: dict[tuple[str, str | None, int], torch.Tensor] = {}
        self._handles = []
        for name in {_TRACE_NAME.fullmatch(a["name"])["module"] for a in self.arrays}:
            if name in modules:
                self._handles.append(modules[name].register_forward_hook(self._hook(name)))

    def _hook(self, name):
        def record(module, inputs, output):
            if isinstance(output, tuple | list):
                output = output[0]
            if isinstance(output, torch.Tensor):
                calls = sum(1 for key in self.outputs if key[:2] == (name, self.tag))
                self.outputs[(name, self.tag, calls)] = output.detach().clone()

        return record

    def close(self):
        for handle in self._handles:
            handle.remove()

    def compare(self, tags_are_calls: bool) -> tuple[list[str], int]:
        """(mismatches in call order, number of arrays compared); each mismatch names its layer.

        Only module outputs (``:out``) with a subsampling this reads are compared; float16 arrays with
        an absolute tolerance of 1e-2 of their magnitude (the trace's own advice), float32 with 1e-3.
        With ``tags_are_calls`` (#k = the k-th call), a module's calls are compared stacked along the
        batch dimension, so one batched call of ours meets the reference's several calls.
        """
        problems, compared = [], 0
        with np.load(self.case.trace_npz) as npz:
            groups: dict[tuple, list] = {}
            for desc in self.arrays:
                parts = _TRACE_NAME.fullmatch(desc["name"])
                if parts["what"] != "out":
                    continue
                module, tag = parts["module"], parts["tag"]
                key = (module,) if tags_are_calls else (module, tag)
                groups.setdefault(key, []).append(desc)
            for key, descs in groups.items():
                calls = sorted(
                    (k for k in self.outputs if k[0] == key[0] and (tags_are_calls or k[1] == key[1])),
                    key=lambda k: k[2],
                )
                calls = calls if tags_are_calls else calls[:1]
                if not calls:
                    continue
                how = {d.get("subsampling", "full") for d in descs}
                if len(how) != 1:
                    continue
                ours = _subsample(np.concatenate([self.outputs[k].float().numpy() for k in calls]), how.pop())
                if ours is None:
                    continue
                golden = np.concatenate([npz[d["name"]].astype(np.float32) for d in descs])
                name = descs[0]["name"] if len(descs) == 1 else f"{key[0]} (calls {descs[0]['name']}..)"
                compared += len(descs)
                if ours.shape != golden.shape and ours.size == golden.size:
                    ours = ours.reshape(golden.shape)  # the same values in another layout, e.g. (h*w, n, c)
                if ours.shape != golden.shape:
                    problems.append(f"{name}: shape {ours.shape}, reference {golden.shape}")
                    continue
                scale = max(1.0, float(np.abs(golden).max()))
                atol = (1e-2 if any(d["dtype"] == "float16" for d in descs) else 1e-3) * scale
                error = float(np.abs(ours - golden).max())
                if error > atol:
                    problems.append(f"{name}: max abs diff {error:.3g} > {atol:.3g}")
        return problems, compared


def _subsample(array: np.ndarray, how: str) -> np.ndarray | None:
    """The trace's slice of a full output, or None for a slicing this does not read."""
    if how == "full":
        return array
    if match := re.fullmatch(r"channels 0::(\d+) \(dim (\d+)\)", how):
        index = [slice(None)] * array.ndim
        index[int(match[2])] = slice(None, None, int(match[1]))
        return array[tuple(index)]
    if how == "frames 0..1 only (dim 0)":
        return array[:2]
    if match := re.fullmatch(r"frame 0 only, channels 0::(\d+)", how):
        return array[:1, :: int(match[1])]
    if match := re.fullmatch(r"last \(hidden\) dim 0::(\d+)", how):
        return array[..., :: int(match[1])]
    return None
