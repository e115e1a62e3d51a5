"""Tiny HunyuanVideo models (text-to-video, and image-to-video with a LLaVA text encoder)."""

from __future__ import annotations

from framecast.components.tiny_model.text import TEXT_DIM, clip_text_encoder, clip_tokenizer, word_level_tokenizer

# The special tokens of Llama 3's chat template, which HunyuanVideo's prompt template is written in.
_LLAMA_SPECIALS = ("<pad>", "<|begin_of_text|>", "<unk>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>")
# HunyuanVideoPipeline cuts the first 95 tokens (its template) from the encoder's output, so they
# must count as Llama 3's do: a run of line breaks is one token, and a space before a digit is one.
_LLAMA_TOKENS = r"\w+|[^\w\s]+|\n+| (?=\d)"
# The image-to-video pipeline finds the end of its template by Llama 3's id for a double line
# break (271), and puts its image tokens where <image> stands (the 6th token).
_DOUBLE_LINE_BREAK_ID = 271
_LLAVA_SPECIALS = (
    *_LLAMA_SPECIALS,
    "<image>",
    *(f"<|reserved_special_token_{i}|>" for i in range(_DOUBLE_LINE_BREAK_ID - len(_LLAMA_SPECIALS) - 1)),
    "\n\n",
)
# LLaVA's vision tower makes 576 image tokens (the pipeline's template expects as many): a 48x48
# crop in 2x2 patches.
_VISION_SIDE = 48
_VISION_PATCH = 2


def _llama_tokenizer(specials: tuple[str, ...] = _LLAMA_SPECIALS):
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(
        tokenizer_object=word_level_tokenizer(list(specials), bos="<|begin_of_text|>", eos=None, pattern=_LLAMA_TOKENS),
        bos_token="<|begin_of_text|>",
        eos_token="<|end_of_text|>",
        pad_token="<pad>",
        unk_token="<unk>",
        model_max_length=2048,
    )


def hunyuan_video_vae(latent_channels: int):
    """HunyuanVideo's causal 3D VAE: 8x in space, 4x in time."""
    from diffusers import AutoencoderKLHunyuanVideo

    return AutoencoderKLHunyuanVideo(
        in_channels=3,
        out_channels=3,
        latent_channels=latent_channels,
        down_block_types=("HunyuanVideoDownBlock3D",) * 4,
        up_block_types=("HunyuanVideoUpBlock3D",) * 4,
        block_out_channels=(8, 8, 8, 8),
        layers_per_block=1,
        act_fn="silu",
        norm_num_groups=4,
        scaling_factor=0.476986,
        spatial_compression_ratio=8,
        temporal_compression_ratio=4,
        mid_block_add_attention=True,
    )


def _llama_config(tokenizer):
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=TEXT_DIM,
        intermediate_size=37,
        num_attention_heads=4,
        num_hidden_layers=3,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )


def _transformer(in_channels: int, image_condition_type: str | None = None, guidance_embeds: bool = True):
    """The DiT: 2x2 patches; an embedded guidance scale where the checkpoint is
    guidance-distilled (text-to-video, and the 16-channel image-to-video)."""
    from diffusers import HunyuanVideoTransformer3DModel

    return HunyuanVideoTransformer3DModel(
        in_channels=in_channels,
        out_channels=4,
        num_attention_heads=2,
        attention_head_dim=16,
        num_layers=1,
        num_single_layers=1,
        num_refiner_layers=1,
        patch_size=2,
        patch_size_t=1,
        guidance_embeds=guidance_embeds,
        text_embed_dim=TEXT_DIM,
        pooled_projection_dim=TEXT_DIM,
        rope_axes_dim=(4, 6, 6),
        image_condition_type=image_condition_type,
    )


def build(seed: int):
    """HunyuanVideo: a Llama text encoder (its hidden states) and CLIP (pooled), the causal 3D VAE
    (8x space, 4x time), a DiT with 2x2 patches and an embedded guidance scale."""
    import torch
    from diffusers import FlowMatchEulerDiscreteScheduler, HunyuanVideoPipeline
    from transformers import LlamaModel

    torch.manual_seed(seed)
    tokenizer = _llama_tokenizer()
    text_encoder = LlamaModel(_llama_config(tokenizer)).eval()
    tokenizer_2 = clip_tokenizer()
    text_encoder_2 = clip_text_encoder(tokenizer_2)
    return HunyuanVideoPipeline(
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        transformer=_transformer(in_channels=4),
        vae=hunyuan_video_vae(latent_channels=4),
        scheduler=FlowMatchEulerDiscreteScheduler(shift=7.0),
        text_encoder_2=text_encoder_2,
        tokenizer_2=tokenizer_2,
    )


def build_i2v(seed: int, latent_concat: bool = False):
    """HunyuanVideo-I2V as published (the 16-channel checkpoint): LLaVA (Llama 3 reading the
    image's CLIP tokens within the prompt) and CLIP (pooled); the image's latent replaces the
    first frame's tokens, and guidance is embedded. With latent_concat, the first (33-channel)
    checkpoint: the image's latent and a mask ride along every frame's channels, and guidance is
    true CFG."""
    import torch
    from diffusers import FlowMatchEulerDiscreteScheduler, HunyuanVideoImageToVideoPipeline
    from transformers import CLIPImageProcessor, CLIPVisionConfig, LlavaConfig, LlavaForConditionalGeneration

    torch.manual_seed(seed)
    tokenizer = _llama_tokenizer(_LLAVA_SPECIALS)
    vision = CLIPVisionConfig(
        hidden_size=16,
        intermediate_size=37,
        projection_dim=16,
        num_attention_heads=2,
        num_hidden_layers=2,
        image_size=_VISION_SIDE,
        patch_size=_VISION_PATCH,
    )
    text_encoder = LlavaForConditionalGeneration(
        LlavaConfig(
            vision_config=vision,
            text_config=_llama_config(tokenizer),
            image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
            pad_token_id=tokenizer.pad_token_id,
        )
    ).eval()
    # CLIP's normalisation, at the tower's side.
    image_processor = CLIPImageProcessor(
        size={"shortest_edge": _VISION_SIDE},
        crop_size={"height": _VISION_SIDE, "width": _VISION_SIDE},
        image_mean=[0.48145466, 0.4578275, 0.40821073],
        image_std=[0.26862954, 0.26130258, 0.27577711],
        resample=3,
    )
    tokenizer_2 = clip_tokenizer()
    text_encoder_2 = clip_text_encoder(tokenizer_2)
    return HunyuanVideoImageToVideoPipeline(
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        transformer=(
            _transformer(in_channels=2 * 4 + 1, image_condition_type="latent_concat", guidance_embeds=False)
            if latent_concat
            else _transformer(in_channels=4, image_condition_type="token_replace")
        ),
        vae=hunyuan_video_vae(latent_channels=4),
        scheduler=FlowMatchEulerDiscreteScheduler(shift=7.0),
        text_encoder_2=text_encoder_2,
        tokenizer_2=tokenizer_2,
        image_processor=image_processor,
    )
