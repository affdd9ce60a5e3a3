"""Our own checkpoint-compatible DeAOT (R50-DeAOT-L) and its tracking backend."""

from .backend import DeAOTTracker
from .model import build_deaot

__all__ = ["build_deaot", "DeAOTTracker"]
