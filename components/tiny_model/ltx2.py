"""Tiny LTX-2 model: video and its sound track from one transformer."""

from __future__ import annotations

from framecast.components.tiny_model.ltx_video import ltx_scheduler
from framecast.components.tiny_model.text import word_level_tokenizer

_TEXT_WIDTH = 16
_TEXT_LAYERS = 2
# The audio VAE's mel frames per second are sample_rate / hop; the vocoder turns each mel frame
# into hop samples (the product of its upsampling factors), so the sound lasts as the video.
_SAMPLE_RATE = 16000
_MEL_HOP = 160
_VOCODER_UPSAMPLING = (10, 4, 4)


def _tokenizer():
    """Gemma-style: <pad>=0, <eos>=1, <bos>=2, <unk>; <bos> opens every sequence (the pipeline
    pads on the left)."""
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(
        tokenizer_object=word_level_tokenizer(["<pad>", "<eos>", "<bos>", "<unk>"], bos="<bos>", eos=None),
        bos_token="<bos>",
        eos_token="<eos>",
        pad_token="<pad>",
        unk_token="<unk>",
        model_max_length=128,
    )


def _text_encoder(tokenizer):
    """Gemma 3's language model with a one-layer SigLIP tower (never used for text); the pipeline
    reads every layer's hidden states."""
    from transformers import Gemma3Config, Gemma3ForConditionalGeneration

    vocabulary = len(tokenizer)
    config = Gemma3Config(
        text_config={
            "vocab_size": vocabulary + 1,
            "hidden_size": _TEXT_WIDTH,
            "intermediate_size": 32,
            "num_hidden_layers": _TEXT_LAYERS,
            "num_attention_heads": 2,
            "num_key_value_heads": 1,
            "head_dim": 8,
            "sliding_window": 16,
            "pad_token_id": tokenizer.pad_token_id,
            "bos_token_id": tokenizer.bos_token_id,
            "eos_token_id": tokenizer.eos_token_id,
        },
        vision_config={
            "hidden_size": 16,
            "intermediate_size": 16,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "image_size": 28,
            "patch_size": 14,
        },
        mm_tokens_per_image=4,
        image_token_index=vocabulary,
        boi_token_index=tokenizer.bos_token_id,
        eoi_token_index=tokenizer.eos_token_id,
    )
    return Gemma3ForConditionalGeneration(config).eval()


def build(seed: int):
    """LTX-2-shaped: Gemma 3 text encoder and text connectors, a video VAE compressing 32x in space
    (a 4x4 pixel patch and three 2x blocks) and 8x in time, an audio VAE over 8 mel bins (4x in
    time) and a vocoder back to 16 kHz stereo."""
    import torch
    from diffusers import (
        AutoencoderKLLTX2Audio,
        AutoencoderKLLTX2Video,
        LTX2Pipeline,
        LTX2VideoTransformer3DModel,
    )
    from diffusers.pipelines.ltx2 import LTX2TextConnectors
    from diffusers.pipelines.ltx2.vocoder import LTX2Vocoder

    torch.manual_seed(seed)
    tokenizer = _tokenizer()
    text_encoder = _text_encoder(tokenizer)
    transformer = LTX2VideoTransformer3DModel(
        in_channels=8,
        out_channels=8,
        patch_size=1,
        patch_size_t=1,
        num_attention_heads=2,
        attention_head_dim=8,
        cross_attention_dim=16,
        # The audio VAE's 2 latent channels times its 2 latent mel bins.
        audio_in_channels=4,
        audio_out_channels=4,
        audio_num_attention_heads=2,
        audio_attention_head_dim=4,
        audio_cross_attention_dim=8,
        num_layers=2,
        qk_norm="rms_norm_across_heads",
        caption_channels=_TEXT_WIDTH,
        rope_double_precision=False,
        rope_type="split",
    )
    connectors = LTX2TextConnectors(
        caption_channels=_TEXT_WIDTH,
        text_proj_in_factor=_TEXT_LAYERS + 1,
        video_connector_num_attention_heads=2,
        video_connector_attention_head_dim=8,
        video_connector_num_layers=1,
        video_connector_num_learnable_registers=None,
        audio_connector_num_attention_heads=2,
        audio_connector_attention_head_dim=8,
        audio_connector_num_layers=1,
        audio_connector_num_learnable_registers=None,
        connector_rope_base_seq_len=32,
        rope_theta=10000.0,
        rope_double_precision=False,
        causal_temporal_positioning=False,
        rope_type="split",
    )
    vae = AutoencoderKLLTX2Video(
        in_channels=3,
        out_channels=3,
        latent_channels=8,
        block_out_channels=(8, 8, 8),
        decoder_block_out_channels=(8, 8, 8),
        layers_per_block=(1, 1, 1, 1),
        decoder_layers_per_block=(1, 1, 1, 1),
        spatio_temporal_scaling=(True, True, True),
        decoder_spatio_temporal_scaling=(True, True, True),
        decoder_inject_noise=(False, False, False, False),
        downsample_type=("spatiotemporal", "spatiotemporal", "spatiotemporal"),
        upsample_residual=(False, False, False),
        upsample_factor=(1, 1, 1),
        timestep_conditioning=False,
        patch_size=4,
        patch_size_t=1,
        encoder_causal=True,
        decoder_causal=False,
    )
    audio_vae = AutoencoderKLLTX2Audio(
        base_channels=4,
        output_channels=2,
        ch_mult=(1, 1, 1),
        num_res_blocks=1,
        attn_resolutions=None,
        in_channels=2,
        resolution=32,
        latent_channels=2,
        norm_type="pixel",
        causality_axis="height",
        dropout=0.0,
        mid_block_add_attention=False,
        sample_rate=_SAMPLE_RATE,
        mel_hop_length=_MEL_HOP,
        is_causal=True,
        mel_bins=8,
    )
    vocoder = LTX2Vocoder(
        in_channels=audio_vae.config.output_channels * audio_vae.config.mel_bins,
        hidden_channels=16,
        out_channels=2,
        upsample_kernel_sizes=[2 * factor for factor in _VOCODER_UPSAMPLING],
        upsample_factors=list(_VOCODER_UPSAMPLING),
        resnet_kernel_sizes=[3],
        resnet_dilations=[[1, 3, 5]],
        leaky_relu_negative_slope=0.1,
        output_sampling_rate=_SAMPLE_RATE,
    )
    return LTX2Pipeline(
        scheduler=ltx_scheduler(),
        vae=vae,
        audio_vae=audio_vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        connectors=connectors,
        transformer=transformer,
        vocoder=vocoder,
    )
