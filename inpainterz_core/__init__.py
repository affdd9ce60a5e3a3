"""Inpainterz core: remove an object from a video (segment -> track -> inpaint).

The pipeline stages live in sub-packages named after them; each stage has a small
interface (``Segmenter``, ``Tracker``, ``Inpainter``) with a classical backend that
needs no weights and a model backend that loads the official checkpoints.
"""

__version__ = "0.1.0"
