"""Tiny SkyReels-V2 model (text-to-video): Wan2.1's text encoder and VAE around SkyReels-V2's
own transformer class."""

from __future__ import annotations

from framecast.components.tiny_model.text import TEXT_DIM, t5_tokenizer, umt5_encoder
from framecast.components.tiny_model.wan import unipc_scheduler, wan21_vae


def build(seed: int):
    """SkyReels-V2 T2V 540P: UMT5, the 16-channel Wan2.1 VAE, UniPC at flow shift 8."""
    import torch
    from diffusers import SkyReelsV2Pipeline, SkyReelsV2Transformer3DModel

    torch.manual_seed(seed)
    tokenizer = t5_tokenizer()
    text_encoder = umt5_encoder(tokenizer)
    # Sizes follow diffusers' own SkyReels-V2 pipeline tests.
    transformer = SkyReelsV2Transformer3DModel(
        patch_size=(1, 2, 2),
        num_attention_heads=2,
        attention_head_dim=12,
        in_channels=16,
        out_channels=16,
        text_dim=TEXT_DIM,
        freq_dim=256,
        ffn_dim=32,
        num_layers=2,
        cross_attn_norm=True,
        qk_norm="rms_norm_across_heads",
        rope_max_seq_len=32,
    )
    return SkyReelsV2Pipeline(
        tokenizer=tokenizer, text_encoder=text_encoder, vae=wan21_vae(), scheduler=unipc_scheduler(flow_shift=8.0), transformer=transformer
    )
