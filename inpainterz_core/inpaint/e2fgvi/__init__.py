"""E2FGVI video inpainting (CVPR22 and HQ generators), our own checkpoint-compatible implementation."""

from .backend import E2FGVIInpainter
from .generator import build_e2fgvi

__all__ = ["E2FGVIInpainter", "build_e2fgvi"]
