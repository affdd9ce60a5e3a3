"""Shared by the parity and model-backend tests: where the golden data is, and one torch thread."""

import os
from pathlib import Path

import pytest
import torch

GOLDEN = Path(os.environ.get("INPAINTERZ_GOLDEN_DIR") or Path(__file__).resolve().parents[2] / "shared" / "golden")


@pytest.fixture(autouse=True)
def one_torch_thread():
    """One thread: on the shared 2-core machine, two contended OpenMP threads mostly measure the contention."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
