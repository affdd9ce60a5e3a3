"""Stand-in model folders for SAM 2.1 and EdgeTAM: the Hugging Face layout of the published ones, with small
configs and random weights, so tests and CPU benchmarks run the real code path where no weights can be
downloaded. Made with the library's own ``save_pretrained``; the numbers are meaningless, the shapes are not.
"""

from __future__ import annotations

from pathlib import Path


def _common(size: int) -> dict:
    """The parts of a SAM 2 video config that scale with the image size, made small."""
    top = size // 16  # the lowest-resolution feature map (stride 16), where memory attention works
    return dict(
        image_size=size,
        prompt_encoder_config=dict(hidden_size=128, image_size=size, patch_size=16),
        mask_decoder_config=dict(hidden_size=128, mlp_dim=64, num_attention_heads=2, iou_head_hidden_dim=32),
        memory_attention_hidden_size=128,
        memory_attention_num_layers=1,
        memory_attention_rope_feat_sizes=[top, top],
        # 64 memory channels: transformers fixes the memory attention's key/value width at 64
        memory_encoder_hidden_size=128,
        memory_encoder_output_channels=64,
        mask_downsampler_embed_dim=128,
        memory_fuser_embed_dim=128,
        memory_fuser_intermediate_dim=64,
    )


def _vision(size: int, backbone: dict) -> dict:
    return dict(
        backbone_config=backbone,
        backbone_channel_list=[128, 64, 32, 16],
        backbone_feature_sizes=[[size // 4] * 2, [size // 8] * 2, [size // 16] * 2],
        fpn_hidden_size=128,
    )


def save_standin(folder: str | Path, family: str = "sam2", size: int = 128, seed: int = 0, **config) -> Path:
    """Write a random-weight SAM 2.1 ("sam2") or EdgeTAM ("edgetam") model folder working at ``size`` px.

    ``config`` overrides top-level config fields, e.g. a shorter memory (``num_maskmem``).
    """
    import torch
    from transformers import (
        EdgeTamVideoConfig,
        EdgeTamVideoModel,
        Sam2ImageProcessor,
        Sam2VideoConfig,
        Sam2VideoModel,
        Sam2VideoProcessor,
    )
    from transformers.models.sam2_video.video_processing_sam2_video import Sam2VideoVideoProcessor
    from transformers.utils import logging as hf_logging

    folder = Path(folder)
    if family == "sam2":
        hiera = dict(
            model_type="sam2_hiera_det_model",
            hidden_size=16,
            num_attention_heads=1,
            image_size=[size, size],
            blocks_per_stage=[1, 2, 1, 1],
            embed_dim_per_stage=[16, 32, 64, 128],
            num_attention_heads_per_stage=[1, 1, 2, 4],
            window_size_per_stage=[4, 4, 4, 4],
            global_attention_blocks=[2],
            window_positional_embedding_background_size=[4, 4],
        )
        config = Sam2VideoConfig(
            vision_config=_vision(size, hiera),
            memory_attention_feed_forward_hidden_size=64,
            **{**_common(size), **config},
        )
        config_class, model_class = Sam2VideoConfig, Sam2VideoModel
    elif family == "edgetam":
        repvit = dict(
            model_type="timm_wrapper",
            architecture="repvit_m1",
            num_classes=1000,
            model_args=dict(
                in_chans=3,
                features_only=True,
                out_indices=[0, 1, 2, 3],
                embed_dim=[16, 32, 64, 128],
                depth=[1, 1, 1, 1],
            ),
        )
        config = EdgeTamVideoConfig(
            vision_config=dict(model_type="edgetam_vision_model", **_vision(size, repvit)),
            memory_attention_mlp_hidden_size=64,
            memory_attention_rope_k_sizes=[size // 32] * 2,
            perceiver_resampler_num_latents=16,
            perceiver_resampler_num_latents_2d=16,
            perceiver_resampler_hidden_size=64,
            perceiver_resampler_mlp_intermediate_size=64,
            perceiver_resampler_num_attention_heads=2,
            perceiver_resampler_attention_head_dim=32,
            perceiver_resampler_num_layers=1,
            **{**_common(size), **config},
        )
        config_class, model_class = EdgeTamVideoConfig, EdgeTamVideoModel
    else:
        raise ValueError(f"unknown family {family!r}")
    # Nested dicts become sub-configs only on a round trip through to_dict/from_dict.
    config = config_class.from_dict(config.to_dict())
    torch.manual_seed(seed)
    hf_logging.disable_progress_bar()
    try:
        model = model_class(config).eval()
        with torch.no_grad():
            # Random weights would call the object absent about half the time and blank every tracked mask;
            # a positive bias on the object-score head keeps it "present", so masks follow the memory.
            model.mask_decoder.pred_obj_score_head.proj_out.bias.fill_(10.0)
        model.save_pretrained(folder)
        processor = Sam2VideoProcessor(
            image_processor=Sam2ImageProcessor(
                size={"height": size, "width": size}, mask_size={"height": size // 4, "width": size // 4}
            ),
            video_processor=Sam2VideoVideoProcessor(size={"height": size, "width": size}),
            target_size=size,
        )
        processor.save_pretrained(folder)
    finally:
        hf_logging.enable_progress_bar()
    return folder


#: The stand-in tokenizer's words: enough for the tests' and the bench's phrases; others become [UNK].
_STANDIN_VOCAB = (
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", "a", "the", "logo", "boom", "mic", "red", "green",
    "blue", "square", "person", "car", "dog", "cat", "ball", "box", "sign", "text", "object",
)  # fmt: skip


def grounding_dino_standin(
    folder: str | Path, size: int = 128, seed: int = 0, published: bool = False
) -> Path:
    """Write a random-weight Grounding DINO folder (tiny Swin and BERT, one encoder and two decoder layers) whose
    image processor works at ``size`` px, with a BERT tokenizer over a tiny vocabulary.

    ``published``: the architecture and working size of IDEA-Research/grounding-dino-tiny instead (Swin-T,
    BERT-base, 900 queries, 800 px; 172M random weights, 690 MB on disk): it times like the real one.
    """
    import torch
    from transformers import (
        BertTokenizerFast,
        GroundingDinoConfig,
        GroundingDinoForObjectDetection,
        GroundingDinoImageProcessor,
        GroundingDinoProcessor,
    )
    from transformers.utils import logging as hf_logging

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    vocab = folder / "vocab.txt"
    vocab.write_text("\n".join(_STANDIN_VOCAB) + "\n")
    swin = dict(
        model_type="swin",
        image_size=size,
        patch_size=4,
        embed_dim=16,
        depths=[1, 1, 1, 1],
        num_heads=[1, 1, 2, 2],
        window_size=4,
        out_features=["stage2", "stage3", "stage4"],
    )
    bert = dict(
        model_type="bert",
        vocab_size=len(_STANDIN_VOCAB),
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    config = GroundingDinoConfig(
        backbone_config=swin,
        text_config=bert,
        d_model=32,
        num_queries=30,
        encoder_layers=1,
        decoder_layers=2,  # the decoder's box heads are tied layer to layer: one layer has nothing to tie
        encoder_ffn_dim=64,
        decoder_ffn_dim=64,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_n_points=2,
        decoder_n_points=2,
        max_text_len=32,
    )
    if published:  # the library's defaults are grounding-dino-tiny's architecture
        config = GroundingDinoConfig(
            backbone_config=dict(model_type="swin", out_features=["stage2", "stage3", "stage4"])
        )
        size = 800
    torch.manual_seed(seed)
    hf_logging.disable_progress_bar()
    try:
        GroundingDinoForObjectDetection(config).eval().save_pretrained(folder)
        tokenizer = BertTokenizerFast(vocab_file=str(vocab), do_lower_case=True)
        longest = 1333 if published else 2 * size
        image_processor = GroundingDinoImageProcessor(size={"shortest_edge": size, "longest_edge": longest})
        GroundingDinoProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(folder)
    finally:
        hf_logging.enable_progress_bar()
    return folder
