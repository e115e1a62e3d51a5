"""Tiny Wan models: 2.1 text-to-video and image-to-video, 2.2 TI2V-5B and 2.2 A14B (two experts,
text-to-video and image-to-video)."""

from __future__ import annotations

from framecast.components.tiny_model.text import TEXT_DIM, t5_tokenizer, umt5_encoder


def _transformer(**overrides):
    from diffusers import WanTransformer3DModel

    # Sizes follow diffusers' own Wan pipeline tests.
    config = {
        "patch_size": (1, 2, 2),
        "num_attention_heads": 2,
        "attention_head_dim": 12,
        "in_channels": 16,
        "out_channels": 16,
        "text_dim": TEXT_DIM,
        "freq_dim": 256,
        "ffn_dim": 32,
        "num_layers": 2,
        "cross_attn_norm": True,
        "qk_norm": "rms_norm_across_heads",
        "rope_max_seq_len": 32,
    }
    return WanTransformer3DModel(**(config | overrides))


def wan21_vae():
    from diffusers import AutoencoderKLWan

    return AutoencoderKLWan(
        base_dim=3,
        z_dim=16,
        dim_mult=[1, 1, 1, 1],
        num_res_blocks=1,
        temperal_downsample=[False, True, True],
    )


def unipc_scheduler(flow_shift: float):
    from diffusers import UniPCMultistepScheduler

    # The scheduler real Wan checkpoints ship with.
    return UniPCMultistepScheduler(
        prediction_type="flow_prediction", use_flow_sigmas=True, num_train_timesteps=1000, flow_shift=flow_shift
    )


def build_t2v(seed: int):
    """Wan2.1 T2V: UMT5 text encoder, 16-channel Wan2.1 VAE."""
    import torch
    from diffusers import WanPipeline

    torch.manual_seed(seed)
    tokenizer = t5_tokenizer()
    text_encoder = umt5_encoder(tokenizer)
    transformer = _transformer()
    return WanPipeline(
        tokenizer=tokenizer,
        text_encoder=text_encoder,
        vae=wan21_vae(),
        scheduler=unipc_scheduler(flow_shift=3.0),
        transformer=transformer,
    )


def build_i2v(seed: int):
    """Wan2.1 I2V: the T2V parts plus a CLIP vision encoder whose penultimate hidden states the
    transformer reads through its image cross-attention."""
    import torch
    from diffusers import WanImageToVideoPipeline
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModel

    torch.manual_seed(seed)
    tokenizer = t5_tokenizer()
    text_encoder = umt5_encoder(tokenizer)
    # The pipeline only uses hidden_states[-2], so the projection-less CLIPVisionModel is enough
    # (the real Wan2.1 I2V checkpoints ship that class). 32 px images in 8 px patches: 17 tokens.
    image_encoder = CLIPVisionModel(
        CLIPVisionConfig(
            hidden_size=8,
            intermediate_size=16,
            num_hidden_layers=2,
            num_attention_heads=2,
            image_size=32,
            patch_size=8,
        )
    )
    image_processor = CLIPImageProcessor(crop_size=32, size=32)
    # in_channels 36 = 16 noise latents + 4 first-frame mask + 16 condition latents. Like the real
    # model (and unlike diffusers' test) it has the separate image key/value projections
    # (added_kv_proj_dim = inner dim); the transformer then treats all but the last 512
    # conditioning tokens as image tokens, so max_sequence_length must stay at its default 512.
    transformer = _transformer(in_channels=36, image_dim=8, added_kv_proj_dim=2 * 12)
    return WanImageToVideoPipeline(
        tokenizer=tokenizer,
        text_encoder=text_encoder,
        vae=wan21_vae(),
        scheduler=unipc_scheduler(flow_shift=3.0),
        image_processor=image_processor,
        image_encoder=image_encoder,
        transformer=transformer,
    )


def build_ti2v(seed: int):
    """Wan2.2 TI2V-5B: the 48-channel Wan2.2 VAE (16x spatial compression via a 2x2 pixel patch),
    one transformer, and per-token timesteps (expand_timesteps) so a given first frame stays clean.
    Saved as WanPipeline, as the real checkpoint is; no image encoder."""
    import torch
    from diffusers import AutoencoderKLWan, WanPipeline

    torch.manual_seed(seed)
    tokenizer = t5_tokenizer()
    text_encoder = umt5_encoder(tokenizer)
    transformer = _transformer(in_channels=48, out_channels=48)
    # The configuration of diffusers' Wan2.2 5B pipeline tests.
    vae = AutoencoderKLWan(
        base_dim=3,
        z_dim=48,
        in_channels=12,
        out_channels=12,
        is_residual=True,
        patch_size=2,
        latents_mean=[0.0] * 48,
        latents_std=[1.0] * 48,
        dim_mult=[1, 1, 1, 1],
        num_res_blocks=1,
        scale_factor_spatial=16,
        scale_factor_temporal=4,
        temperal_downsample=[False, True, True],
    )
    return WanPipeline(
        tokenizer=tokenizer,
        text_encoder=text_encoder,
        vae=vae,
        scheduler=unipc_scheduler(flow_shift=5.0),
        transformer=transformer,
        expand_timesteps=True,
    )


def _two_experts(seed: int, pipeline_class: str, in_channels: int, flow_shift: float, boundary_ratio: float):
    """Wan2.2 A14B's shape: two experts of one shape, the high-noise one (transformer) above the
    boundary timestep and the low-noise one (transformer_2) below it, each with its own guidance
    scale; the Wan2.1 VAE."""
    import diffusers
    import torch

    torch.manual_seed(seed)
    tokenizer = t5_tokenizer()
    text_encoder = umt5_encoder(tokenizer)
    transformer, transformer_2 = _transformer(in_channels=in_channels), _transformer(in_channels=in_channels)
    return getattr(diffusers, pipeline_class)(
        tokenizer=tokenizer,
        text_encoder=text_encoder,
        vae=wan21_vae(),
        scheduler=unipc_scheduler(flow_shift=flow_shift),
        transformer=transformer,
        transformer_2=transformer_2,
        boundary_ratio=boundary_ratio,
    )


def build_a14b(seed: int):
    """Wan2.2 T2V-A14B: the boundary (0.875 of the training timesteps) and flow shift 12 are the
    real model's."""
    return _two_experts(seed, "WanPipeline", in_channels=16, flow_shift=12.0, boundary_ratio=0.875)


def build_i2v_a14b(seed: int):
    """Wan2.2 I2V-A14B: the boundary (0.9) and flow shift 5 are the real model's; each expert reads
    the image through its latent channels only (in_channels 36, as Wan2.1 I2V), with no CLIP
    image encoder, as the real checkpoint has none."""
    return _two_experts(seed, "WanImageToVideoPipeline", in_channels=36, flow_shift=5.0, boundary_ratio=0.9)
