"""Tiny Stable Diffusion 3.5-shaped text-to-image model."""

from __future__ import annotations

from framecast.components.tiny_model.flux import image_vae
from framecast.components.tiny_model.text import TEXT_DIM, clip_text_encoder, clip_tokenizer, t5_encoder, t5_tokenizer


def build(seed: int):
    """SD3.5: two CLIP text encoders (their hidden states side by side, their pooled outputs
    joined) and T5, a 16-channel 8x VAE, an MMDiT on 2x2 patches."""
    import torch
    from diffusers import FlowMatchEulerDiscreteScheduler, SD3Transformer2DModel, StableDiffusion3Pipeline

    torch.manual_seed(seed)
    # The two CLIP widths add up to T5's, which the pipeline pads the CLIP states to.
    clip_width = TEXT_DIM // 2
    tokenizer, tokenizer_2 = clip_tokenizer(), clip_tokenizer()
    text_encoder = clip_text_encoder(tokenizer, hidden_size=clip_width, with_projection=True)
    text_encoder_2 = clip_text_encoder(tokenizer_2, hidden_size=clip_width, with_projection=True)
    tokenizer_3 = t5_tokenizer(model_max_length=256)
    text_encoder_3 = t5_encoder(tokenizer_3)
    transformer = SD3Transformer2DModel(
        sample_size=8,
        patch_size=2,
        in_channels=16,
        out_channels=16,
        num_layers=2,
        attention_head_dim=8,
        num_attention_heads=4,
        joint_attention_dim=TEXT_DIM,
        caption_projection_dim=32,
        pooled_projection_dim=2 * clip_width,
        pos_embed_max_size=96,
        qk_norm="rms_norm",
    )
    vae = image_vae(16, shift_factor=0.0609, scaling_factor=1.5305)
    return StableDiffusion3Pipeline(
        transformer=transformer,
        scheduler=FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=3.0),
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        text_encoder_2=text_encoder_2,
        tokenizer_2=tokenizer_2,
        text_encoder_3=text_encoder_3,
        tokenizer_3=tokenizer_3,
    )
