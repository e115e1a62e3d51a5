"""Tiny CogVideoX models: text-to-video (2B-shaped) and image-to-video (5B-I2V-shaped)."""

from __future__ import annotations

from framecast.components.tiny_model.text import TEXT_DIM, t5_encoder, t5_tokenizer

# CogVideoX pads every prompt to this many T5 tokens, and the transformer's positions count them.
_MAX_TEXT_TOKENS = 226


def _vae():
    """Four blocks: 8x spatial and 4x temporal compression, as in the real CogVideoX VAE."""
    from diffusers import AutoencoderKLCogVideoX

    return AutoencoderKLCogVideoX(
        in_channels=3,
        out_channels=3,
        down_block_types=("CogVideoXDownBlock3D",) * 4,
        up_block_types=("CogVideoXUpBlock3D",) * 4,
        block_out_channels=(8, 8, 8, 8),
        latent_channels=4,
        layers_per_block=1,
        norm_num_groups=2,
        temporal_compression_ratio=4,
    )


def _scheduler(pipeline_scheduler: str, snr_shift_scale: float):
    """The DDIM-family scheduler and configuration the real checkpoints ship."""
    import diffusers

    return getattr(diffusers, pipeline_scheduler)(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        num_train_timesteps=1000,
        prediction_type="v_prediction",
        rescale_betas_zero_snr=True,
        set_alpha_to_one=True,
        snr_shift_scale=snr_shift_scale,
        steps_offset=0,
        timestep_spacing="trailing",
    )


def _transformer(**overrides):
    from diffusers import CogVideoXTransformer3DModel

    # Sizes from diffusers' CogVideoX tests; the sample size (64x64, 9 frames) is only where the
    # positional embeddings are first computed, any size in limits runs.
    config = {
        "num_attention_heads": 4,
        "attention_head_dim": 8,
        "in_channels": 4,
        "out_channels": 4,
        "time_embed_dim": 2,
        "text_embed_dim": TEXT_DIM,
        "num_layers": 2,
        "sample_width": 8,
        "sample_height": 8,
        "sample_frames": 9,
        "patch_size": 2,
        "temporal_compression_ratio": 4,
        "max_text_seq_length": _MAX_TEXT_TOKENS,
    }
    return CogVideoXTransformer3DModel(**(config | overrides))


def build_t2v(seed: int):
    """CogVideoX-2B: T5 text encoder, sinusoidal 3D positions, the DDIM scheduler."""
    import torch
    from diffusers import CogVideoXPipeline

    torch.manual_seed(seed)
    tokenizer = t5_tokenizer(model_max_length=_MAX_TEXT_TOKENS)
    text_encoder = t5_encoder(tokenizer)
    transformer = _transformer()
    return CogVideoXPipeline(
        tokenizer=tokenizer,
        text_encoder=text_encoder,
        vae=_vae(),
        transformer=transformer,
        scheduler=_scheduler("CogVideoXDDIMScheduler", snr_shift_scale=3.0),
    )


def build_i2v(seed: int):
    """CogVideoX-5B-I2V: the image's latents join the noise as 4 more input channels; rotary
    positions (the real 5B-I2V adds learned ones, which fix it to its one published size)."""
    import torch
    from diffusers import CogVideoXImageToVideoPipeline

    torch.manual_seed(seed)
    tokenizer = t5_tokenizer(model_max_length=_MAX_TEXT_TOKENS)
    text_encoder = t5_encoder(tokenizer)
    # Rotary positions need a head width divisible by 16.
    transformer = _transformer(
        num_attention_heads=2, attention_head_dim=16, in_channels=8, use_rotary_positional_embeddings=True
    )
    return CogVideoXImageToVideoPipeline(
        tokenizer=tokenizer,
        text_encoder=text_encoder,
        vae=_vae(),
        transformer=transformer,
        scheduler=_scheduler("CogVideoXDPMScheduler", snr_shift_scale=1.0),
    )
