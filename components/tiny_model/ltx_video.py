"""Tiny LTX-Video model: one checkpoint for text-to-video and, through LTXImageToVideoPipeline
on the same modules, image-to-video."""

from __future__ import annotations

from framecast.components.tiny_model.text import TEXT_DIM, t5_encoder, t5_tokenizer


def ltx_scheduler():
    """LTX-Video's and LTX-2's scheduler: the shift follows the video's token count, and the last
    sigma is stretched to 0.1."""
    from diffusers import FlowMatchEulerDiscreteScheduler

    return FlowMatchEulerDiscreteScheduler(
        num_train_timesteps=1000,
        shift=1.0,
        use_dynamic_shifting=True,
        base_shift=0.95,
        max_shift=2.05,
        base_image_seq_len=1024,
        max_image_seq_len=4096,
        shift_terminal=0.1,
    )


def build(seed: int):
    """LTX-Video 0.9-shaped: T5 text encoder, a VAE compressing 32x in space (a 4x4 pixel patch and
    three 2x blocks) and 8x in time, a DiT on single latent pixels, the dynamic-shift scheduler."""
    import torch
    from diffusers import AutoencoderKLLTXVideo, LTXPipeline, LTXVideoTransformer3DModel

    torch.manual_seed(seed)
    tokenizer = t5_tokenizer(model_max_length=128)
    text_encoder = t5_encoder(tokenizer)
    transformer = LTXVideoTransformer3DModel(
        in_channels=8,
        out_channels=8,
        patch_size=1,
        patch_size_t=1,
        num_attention_heads=4,
        attention_head_dim=8,
        cross_attention_dim=32,
        num_layers=2,
        caption_channels=TEXT_DIM,
    )
    vae = AutoencoderKLLTXVideo(
        in_channels=3,
        out_channels=3,
        latent_channels=8,
        block_out_channels=(8, 8, 8, 8),
        decoder_block_out_channels=(8, 8, 8, 8),
        layers_per_block=(1, 1, 1, 1, 1),
        decoder_layers_per_block=(1, 1, 1, 1, 1),
        spatio_temporal_scaling=(True, True, True, False),
        decoder_spatio_temporal_scaling=(True, True, True, False),
        decoder_inject_noise=(False, False, False, False, False),
        upsample_residual=(False, False, False, False),
        upsample_factor=(1, 1, 1, 1),
        timestep_conditioning=False,
        patch_size=4,
        patch_size_t=1,
        encoder_causal=True,
        decoder_causal=False,
    )
    scheduler = ltx_scheduler()
    return LTXPipeline(tokenizer=tokenizer, text_encoder=text_encoder, vae=vae, transformer=transformer, scheduler=scheduler)
