"""Detectors: text phrases -> boxes on one image (Grounding DINO), checked before anyone trusts them."""

from .base import Detection, Detector, check_detections, missing_phrases

__all__ = ["Detection", "Detector", "check_detections", "missing_phrases"]
