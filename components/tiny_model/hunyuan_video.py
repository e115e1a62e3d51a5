"""Tiny HunyuanVideo model (text-to-video)."""

from __future__ import annotations

from framecast.components.tiny_model.text import TEXT_DIM, clip_text_encoder, clip_tokenizer, word_level_tokenizer

# The special tokens of Llama 3's chat template, which HunyuanVideo's prompt template is written in.
_LLAMA_SPECIALS = ["<pad>", "<|begin_of_text|>", "<unk>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]
# HunyuanVideoPipeline cuts the first 95 tokens (its template) from the encoder's output, so they
# must count as Llama 3's do: a run of line breaks is one token, and a space before a digit is one.
_LLAMA_TOKENS = r"\w+|[^\w\s]+|\n+| (?=\d)"


def _llama_tokenizer():
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(
        tokenizer_object=word_level_tokenizer(_LLAMA_SPECIALS, bos="<|begin_of_text|>", eos=None, pattern=_LLAMA_TOKENS),
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


def build(seed: int):
    """HunyuanVideo: a Llama text encoder (its hidden states) and CLIP (pooled), the causal 3D VAE
    (8x space, 4x time), a DiT with 2x2 patches and an embedded guidance scale."""
    import torch
    from diffusers import (
        FlowMatchEulerDiscreteScheduler,
        HunyuanVideoPipeline,
        HunyuanVideoTransformer3DModel,
    )
    from transformers import LlamaConfig, LlamaModel

    torch.manual_seed(seed)
    tokenizer = _llama_tokenizer()
    text_encoder = LlamaModel(
        LlamaConfig(
            vocab_size=len(tokenizer),
            hidden_size=TEXT_DIM,
            intermediate_size=37,
            num_attention_heads=4,
            num_hidden_layers=3,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
    ).eval()
    tokenizer_2 = clip_tokenizer()
    text_encoder_2 = clip_text_encoder(tokenizer_2)
    transformer = HunyuanVideoTransformer3DModel(
        in_channels=4,
        out_channels=4,
        num_attention_heads=2,
        attention_head_dim=16,
        num_layers=1,
        num_single_layers=1,
        num_refiner_layers=1,
        patch_size=2,
        patch_size_t=1,
        guidance_embeds=True,
        text_embed_dim=TEXT_DIM,
        pooled_projection_dim=TEXT_DIM,
        rope_axes_dim=(4, 6, 6),
    )
    vae = hunyuan_video_vae(latent_channels=4)
    return HunyuanVideoPipeline(
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        transformer=transformer,
        vae=vae,
        scheduler=FlowMatchEulerDiscreteScheduler(shift=7.0),
        text_encoder_2=text_encoder_2,
        tokenizer_2=tokenizer_2,
    )
