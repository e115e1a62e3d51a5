"""Tiny FLUX.1-shaped models: text-to-image, and FLUX.1 Kontext image editing."""

from __future__ import annotations

from framecast.components.tiny_model.text import TEXT_DIM, clip_text_encoder, clip_tokenizer, t5_encoder, t5_tokenizer


def image_vae(latent_channels: int, shift_factor: float, scaling_factor: float):
    """An image VAE that downsamples 8x like the real ones (four blocks; diffusers' test VAE has
    one block, so 1x), hence sizes in multiples of 16 with a 2x2 DiT patch."""
    from diffusers import AutoencoderKL

    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D"] * 4,
        up_block_types=["UpDecoderBlock2D"] * 4,
        block_out_channels=(4, 4, 4, 4),
        layers_per_block=1,
        latent_channels=latent_channels,
        norm_num_groups=1,
        sample_size=32,
        use_quant_conv=False,
        use_post_quant_conv=False,
        shift_factor=shift_factor,
        scaling_factor=scaling_factor,
    )


def build_t2i(seed: int):
    """FLUX.1-dev-shaped: CLIP (pooled) + T5 text encoders, a 16-channel 8x VAE, guidance embedding."""
    import torch
    from diffusers import FlowMatchEulerDiscreteScheduler, FluxPipeline, FluxTransformer2DModel

    torch.manual_seed(seed)
    tokenizer = clip_tokenizer()
    text_encoder = clip_text_encoder(tokenizer)
    tokenizer_2 = t5_tokenizer(model_max_length=512)
    text_encoder_2 = t5_encoder(tokenizer_2)
    # Transformer sizes from diffusers' Flux tests, except the latent width: 16 VAE channels
    # packed in 2x2 patches give in_channels 64, as in the real model.
    transformer = FluxTransformer2DModel(
        patch_size=1,
        in_channels=64,
        num_layers=1,
        num_single_layers=1,
        attention_head_dim=16,
        num_attention_heads=2,
        joint_attention_dim=TEXT_DIM,
        pooled_projection_dim=TEXT_DIM,
        guidance_embeds=True,
        axes_dims_rope=[4, 4, 8],
    )
    vae = image_vae(16, shift_factor=0.1159, scaling_factor=0.3611)
    # FLUX.1's scheduler configuration: the shift grows with the image's token count.
    scheduler = FlowMatchEulerDiscreteScheduler(
        num_train_timesteps=1000,
        shift=3.0,
        use_dynamic_shifting=True,
        base_shift=0.5,
        max_shift=1.15,
        base_image_seq_len=256,
        max_image_seq_len=4096,
    )
    return FluxPipeline(
        scheduler=scheduler,
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        text_encoder_2=text_encoder_2,
        tokenizer_2=tokenizer_2,
        transformer=transformer,
    )


def build_kontext(seed: int):
    """FLUX.1 Kontext-dev-shaped: FLUX.1-dev's modules (the real checkpoint has the same
    architecture), run by the pipeline that reads the input image's latents beside the noise."""
    from diffusers import FluxKontextPipeline

    return FluxKontextPipeline(**build_t2i(seed).components)
