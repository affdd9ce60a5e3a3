"""The model registry: one entry per model, and everything else (backends, settings, CLI, `weights`, the
server's `hello`) reads it instead of spelling model names.

An entry says which stages the model serves, its files (URL, size, sha256), licence and whether
commercial use is allowed, how to build the bare network (to check a file's keys and shapes)
and how to build a stage backend from it. Importing this module imports no torch: builders and
backends import their modules when called.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from .download import RemoteFile
from .errors import InputError

STAGES = ("detect", "segment", "track", "inpaint")
#: The backend each stage uses when no model can run. "detect" (text -> boxes) has none: text prompts need a model.
CLASSICAL = {"segment": "grabcut", "track": "flow", "inpaint": "flow-guided"}
#: A setting that picks the first model present for its stage, in registry order.
AUTO = "auto"


@dataclass(frozen=True)
class ModelEntry:
    """One model and everything a user must know before downloading it."""

    name: str
    stages: tuple[str, ...]  # the stages it can run: detect, segment, track, inpaint
    description: str
    licence: str
    commercial_use: bool
    files: tuple[RemoteFile, ...]
    #: Builds the backend for one stage: ``make_backend(stage, path, settings, device)`` where ``path`` is the
    #: checkpoint file, or the model's folder for the Hugging Face layout.
    make_backend: Callable
    #: The network whose state dict the checkpoint must match: our own with random weights for a single file,
    #: ``build_model(folder)`` (the architecture config.json describes, on the meta device) for the HF layout.
    build_model: Callable | None = None
    hf_layout: bool = False  # files live in ckpt/NAME/ as config.json + model.safetensors + processor files
    manual: str | None = None  # set when ``fetch`` cannot download it: how to get it by hand
    credit: str = ""  # the paper and repository the model comes from
    extra: dict = field(default_factory=dict)  # per-family options the backend factory reads

    @property
    def used_by(self) -> str:
        return ", ".join(self.stages)

    @property
    def file_name(self) -> str:
        """The path (relative to the checkpoint folder) whose presence means the model is here."""
        return f"{self.name}/" if self.hf_layout else self.files[0].file_name

    @property
    def size(self) -> int | None:
        sizes = [f.size for f in self.files if not f.optional]
        return None if None in sizes else sum(sizes)

    @property
    def urls(self) -> tuple[str, ...]:
        return tuple(url for f in self.files if not f.optional for url in f.urls[:1])


# --- builders and backend factories (imports happen on call) -----------------------------------------------


def _build_sam_vit_b():
    from segment_anything import sam_model_registry

    return sam_model_registry["vit_b"](checkpoint=None)


def _build_deaot_r50l():
    from .track.deaot import build_deaot

    return build_deaot("r50_deaotl")


def _build_e2fgvi(variant: str):
    def build():
        from .inpaint.e2fgvi import build_e2fgvi

        return build_e2fgvi(variant)

    return build


def _build_hf(family: str):
    """The video model (a superset of the image model) that config.json describes, without allocating weights."""

    def build(folder):
        import torch
        from transformers import AutoConfig

        from .segment.sam2 import model_classes

        config = AutoConfig.from_pretrained(folder)
        with torch.device("meta"):
            return model_classes(family)[1](config)

    return build


class _SavedLayout:
    """A transformers model's weights as ``save_pretrained`` writes them: transformers 5 renames some keys
    on loading (Swin's ``attention.self.query`` is ``attention.q_proj`` in memory) and back on saving, and
    leaves out weights tied to others. ``optional_keys``: the tied ones, which older files may hold."""

    def __init__(self, model):
        from transformers.core_model_loading import revert_weight_conversion

        tied = set(model.all_tied_weights_keys)
        saved = revert_weight_conversion(model, model.state_dict())
        self.optional_keys = set(
            revert_weight_conversion(model, {k: v for k, v in model.state_dict().items() if k in tied})
        )
        self._state = {k: v for k, v in saved.items() if k not in self.optional_keys}

    def state_dict(self):
        return self._state


def _build_grounding_dino(folder):
    """The detector config.json describes, without allocating weights, keyed as its file is."""
    import torch
    from transformers import AutoConfig, GroundingDinoForObjectDetection

    config = AutoConfig.from_pretrained(folder)
    with torch.device("meta"):
        return _SavedLayout(GroundingDinoForObjectDetection(config))


def _grounding_dino_backend(stage, path, settings, device):
    from .detect.grounding_dino import GroundingDinoDetector

    return GroundingDinoDetector(path, device=device, name=path.name)


def _sam_backend(stage, path, settings, device):
    from .segment.sam import SAMSegmenter

    return SAMSegmenter(path, device=device)


def _deaot_backend(stage, path, settings, device):
    from .track.deaot import DeAOTTracker

    return DeAOTTracker(
        path,
        device=device,
        fp16=settings.fp16,
        long_term_mem_gap=settings.long_term_mem_gap,
        max_len_long_term=settings.max_len_long_term,
    )


def _e2fgvi_backend(variant: str):
    def make(stage, path, settings, device):
        from .inpaint.e2fgvi import E2FGVIInpainter

        return E2FGVIInpainter(variant, path, device=device, fp16=settings.fp16)

    return make


def _sam2_backend(family: str):
    """SAM 2.1 and EdgeTAM through transformers: the image model segments, the video model tracks."""

    def make(stage, path, settings, device):
        if stage == "segment":
            from .segment.sam2 import Sam2Segmenter

            return Sam2Segmenter(path, family=family, device=device, name=path.name)
        from .track.sam2 import Sam2Tracker

        return Sam2Tracker(path, family=family, device=device, fp16=settings.fp16, name=path.name)

    return make


# --- the entries ------------------------------------------------------------------------------------------

_HF = "https://huggingface.co"
#: The processor files of a Hugging Face SAM 2 repository; which of them a repository has varies with the
#: transformers version it was converted with, so each is optional.
_PROCESSOR_FILES = ("processor_config.json", "preprocessor_config.json", "video_preprocessor_config.json")
_SAM2_CREDIT = (
    "SAM 2: Segment Anything in Images and Videos (Ravi et al., 2024), "
    "https://github.com/facebookresearch/sam2; transformers port: https://huggingface.co/docs/transformers"
)


def _hf_files(
    repo: str, optional: tuple[str, ...] = _PROCESSOR_FILES, required: tuple[str, ...] = ()
) -> tuple[RemoteFile, ...]:
    """config.json, model.safetensors, the ``required`` files and the ``optional`` ones (a 404 is no error)
    of a Hugging Face repository.

    No size or sha256 is recorded here: ``fetch`` checks model.safetensors against the sha256
    Hugging Face publishes for it (its LFS object id).
    """

    def url(name):
        return (f"{_HF}/{repo}/resolve/main/{name}",)

    return (
        RemoteFile("config.json", url("config.json")),
        RemoteFile("model.safetensors", url("model.safetensors")),
        *(RemoteFile(name, url(name)) for name in required),
        *(RemoteFile(name, url(name), optional=True) for name in optional),
    )


#: Grounding DINO's tokenizer (BERT) and processor files. IDEA-Research/grounding-dino-tiny and -base both
#: hold the tokenizer files, preprocessor_config.json, vocab.txt and special_tokens_map.json (and
#: pytorch_model.bin, which is not fetched; added_tokens.json in tiny only); a folder saved by transformers 5
#: has processor_config.json instead of preprocessor_config.json. The tokenizer is needed; the rest may vary.
_GROUNDING_DINO_REQUIRED = ("tokenizer_config.json", "tokenizer.json")
_GROUNDING_DINO_OPTIONAL = (
    "preprocessor_config.json",
    "processor_config.json",
    "vocab.txt",
    "special_tokens_map.json",
    "added_tokens.json",
)


def _grounding_dino(size: str, description: str) -> ModelEntry:
    name = f"grounding-dino-{size}"
    return ModelEntry(
        name=name,
        stages=("detect",),
        description=description,
        licence="Apache-2.0",
        commercial_use=True,
        files=_hf_files(f"IDEA-Research/{name}", _GROUNDING_DINO_OPTIONAL, _GROUNDING_DINO_REQUIRED),
        make_backend=_grounding_dino_backend,
        build_model=_build_grounding_dino,
        hf_layout=True,
        credit=(
            "Grounding DINO: Marrying DINO with Grounded Pre-Training for Open-Set Object Detection (Liu et al., "
            "ECCV 2024), https://github.com/IDEA-Research/GroundingDINO; transformers port: "
            "https://huggingface.co/docs/transformers/model_doc/grounding-dino"
        ),
    )


def _sam2(size: str, description: str) -> ModelEntry:
    name = f"sam2.1-hiera-{size}"
    return ModelEntry(
        name=name,
        stages=("segment", "track"),
        description=description,
        licence="Apache-2.0",
        commercial_use=True,
        files=_hf_files(f"facebook/{name}"),
        make_backend=_sam2_backend("sam2"),
        build_model=_build_hf("sam2"),
        hf_layout=True,
        credit=_SAM2_CREDIT,
    )


_E2FGVI_LICENCE = "CC-BY-NC-4.0"
_E2FGVI_CREDIT = (
    "Towards An End-to-End Framework for Flow-Guided Video Inpainting (Li et al., CVPR 2022), "
    "https://github.com/MCG-NKU/E2FGVI"
)

REGISTRY: dict[str, ModelEntry] = {
    entry.name: entry
    for entry in (
        # Registry order is the preference order of "auto" within a stage: SAM 2.1 first, as the issue asks.
        _sam2(
            "base-plus",
            "SAM 2.1 Hiera-B+ (80.8M): clicks to masks and video tracking, the best speed/quality",
        ),
        _sam2("large", "SAM 2.1 Hiera-L (224.4M): clicks to masks and video tracking, the most accurate"),
        _sam2("small", "SAM 2.1 Hiera-S (46M): clicks to masks and video tracking"),
        _sam2("tiny", "SAM 2.1 Hiera-T (38.9M): clicks to masks and video tracking, the fastest SAM 2.1"),
        # Tiny first: the faster one is what "auto" takes and what messages name.
        _grounding_dino("tiny", "Grounding DINO Swin-T (172M): text phrases to boxes, the faster one"),
        _grounding_dino("base", "Grounding DINO Swin-B (233M): text phrases to boxes, the more accurate one"),
        ModelEntry(
            name="edgetam",
            stages=("segment", "track"),
            description="EdgeTAM (RepViT + 2D spatial perceiver): SAM 2 quality at on-device speed",
            licence="Apache-2.0",
            commercial_use=True,
            files=_hf_files("yonigozlan/EdgeTAM-hf"),
            make_backend=_sam2_backend("edgetam"),
            build_model=_build_hf("edgetam"),
            hf_layout=True,
            credit=(
                "EdgeTAM: On-Device Track Anything Model (Zhou et al., CVPR 2025), "
                "https://github.com/facebookresearch/EdgeTAM"
            ),
        ),
        ModelEntry(
            name="sam_vit_b",
            stages=("segment",),
            description="Segment Anything ViT-B: clicks and boxes to an object mask",
            licence="Apache-2.0",
            commercial_use=True,
            files=(
                RemoteFile(
                    "sam_vit_b_01ec64.pth",
                    ("https://dl.fbaipublicfiles.com/segment_anything/sam_vit_b_01ec64.pth",),
                    size=375042383,
                    sha256="ec2df62732614e57411cdcf32a23ffdf28910380d03139ee0f4fcbe91eb8c912",
                ),
            ),
            make_backend=_sam_backend,
            build_model=_build_sam_vit_b,
            credit="Segment Anything (Kirillov et al., ICCV 2023), https://github.com/facebookresearch/segment-anything",
        ),
        ModelEntry(
            name="deaot_r50l",
            stages=("track",),
            description="DeAOT R50-L (YouTube-VOS + DAVIS): carries the masks from frame to frame",
            licence="BSD-3-Clause",
            commercial_use=True,
            # The R50-DeAOTL PRE_YTB_DAV row of aot-benchmark's MODEL_ZOO.md (the file SAM-Track uses). Size
            # and sha256 are not published upstream: they are the figures other projects record for this file.
            files=(
                RemoteFile(
                    "R50_DeAOTL_PRE_YTB_DAV.pth",
                    ("https://drive.google.com/file/d/1QoChMkTVxdYZ_eBlZhK2acq9KMQZccPJ/view?usp=sharing",),
                    size=236513959,
                    sha256="7e8a8d83310739bac02817f6bf48b6bbe2bbd7d5325722f1084088eb3aee1e06",
                ),
            ),
            make_backend=_deaot_backend,
            build_model=_build_deaot_r50l,
            credit=(
                "Decoupling Features in Hierarchical Propagation for Video Object Segmentation (DeAOT, Yang "
                "and Yang, NeurIPS 2022) and AOT (NeurIPS 2021), https://github.com/yoxu515/aot-benchmark"
            ),
        ),
        ModelEntry(
            name="e2fgvi_hq",
            stages=("inpaint",),
            description="E2FGVI-HQ, any resolution: paints the masked area",
            licence=_E2FGVI_LICENCE,
            commercial_use=False,
            files=(
                RemoteFile(
                    "E2FGVI-HQ-CVPR22.pth",
                    (
                        "https://drive.google.com/file/d/10wGdKSUOie0XmCr8SQ2A2FeDe-mfn5w3/view?usp=sharing",
                        "https://pan.baidu.com/s/1jfm1oFU1eIy-IRfuHP8YXw?pwd=ssb3",
                    ),
                ),
            ),
            make_backend=_e2fgvi_backend("hq"),
            build_model=_build_e2fgvi("hq"),
            credit=_E2FGVI_CREDIT,
        ),
        ModelEntry(
            name="e2fgvi",
            stages=("inpaint",),
            description="E2FGVI (CVPR 2022), fixed 432x240 working size: paints the masked area",
            licence=_E2FGVI_LICENCE,
            commercial_use=False,
            files=(
                RemoteFile(
                    "E2FGVI-CVPR22.pth",
                    (
                        "https://drive.google.com/file/d/1tNJMTJ2gmWdIXJoHVi5-H504uImUiJW9/view?usp=sharing",
                        "https://pan.baidu.com/s/1qXAErbilY_n_Fh9KB8UF7w?pwd=lsjw",
                    ),
                ),
            ),
            make_backend=_e2fgvi_backend("cvpr22"),
            build_model=_build_e2fgvi("cvpr22"),
            credit=_E2FGVI_CREDIT,
            manual=(
                "the official link serves a zip (E2FGVI_CVPR22_models.zip); download it in a browser from "
                "https://drive.google.com/file/d/1tNJMTJ2gmWdIXJoHVi5-H504uImUiJW9/view or "
                "https://pan.baidu.com/s/1qXAErbilY_n_Fh9KB8UF7w?pwd=lsjw and unzip it"
            ),
        ),
    )
}

#: The model named in messages when a stage's model has no weights: what each stage ran before SAM 2.1, and
#: the first detector.
LEGACY_DEFAULT = {
    "detect": "grounding-dino-tiny",
    "segment": "sam_vit_b",
    "track": "deaot_r50l",
    "inpaint": "e2fgvi_hq",
}


def list_entries() -> list[ModelEntry]:
    return list(REGISTRY.values())


def get(name: str) -> ModelEntry:
    try:
        return REGISTRY[name]
    except KeyError:
        raise InputError(f"unknown model {name!r}: choose one of {', '.join(REGISTRY)}") from None


def for_stage(stage: str) -> list[ModelEntry]:
    """The models that can run ``stage``, in order of preference."""
    return [e for e in REGISTRY.values() if stage in e.stages]


def choices(stage: str) -> tuple[str, ...]:
    """The values a setting for ``stage`` accepts: auto, then every model name for it."""
    return (AUTO, *(e.name for e in for_stage(stage)))
