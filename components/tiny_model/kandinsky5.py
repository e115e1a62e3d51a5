"""Tiny Kandinsky 5 model (text-to-video)."""

from __future__ import annotations

from framecast.components.tiny_model.hunyuan_video import hunyuan_video_vae
from framecast.components.tiny_model.hunyuan_video15 import QWEN_TOKENS, qwen_tokenizer
from framecast.components.tiny_model.text import clip_text_encoder, clip_tokenizer, qwen25_vl_encoder

_TEXT_WIDTH = 32
_CLIP_WIDTH = 16
# The pipeline cuts its prompt template's first 129 tokens. Qwen's BPE cuts the template's rarer
# words ("promt", "scren", "postprocessing") into pieces; here a word is cut into pieces of at
# most nine letters, which counts the template as 129 tokens too.
_TOKENS = QWEN_TOKENS.replace("[A-Za-z]+", "[A-Za-z]{1,9}")
_TEMPLATE_WORDS = (
    "system user You are a promt engineer Describe the video in detail how camera moves or shakes describe zoom "
    "and view angle whether it follows objects location of main characters their action dynamism presented "
    "actions Name visual style professional footage generated content some kind animation game scren effects "
    "postprocessing transitions if they Pay attention to order key shown scene"
)


def build(seed: int):
    """Kandinsky 5 T2V Lite: Qwen2.5-VL's last hidden states and CLIP's pooled output, HunyuanVideo's
    VAE (8x in space, 4x in time, 16 channels), a DiT on 2x2 patches."""
    import torch
    from diffusers import FlowMatchEulerDiscreteScheduler, Kandinsky5T2VPipeline, Kandinsky5Transformer3DModel

    torch.manual_seed(seed)
    tokenizer = qwen_tokenizer(_TEMPLATE_WORDS, _TOKENS)
    text_encoder = qwen25_vl_encoder(tokenizer, _TEXT_WIDTH)
    tokenizer_2 = clip_tokenizer()
    text_encoder_2 = clip_text_encoder(tokenizer_2, hidden_size=_CLIP_WIDTH)
    transformer = Kandinsky5Transformer3DModel(
        in_visual_dim=16,
        in_text_dim=_TEXT_WIDTH,
        in_text_dim2=_CLIP_WIDTH,
        time_dim=16,
        out_visual_dim=16,
        patch_size=(1, 2, 2),
        model_dim=16,
        ff_dim=32,
        num_text_blocks=1,
        num_visual_blocks=2,
        axes_dims=(1, 1, 2),
        visual_cond=False,
        attention_type="regular",
    )
    return Kandinsky5T2VPipeline(
        transformer=transformer,
        vae=hunyuan_video_vae(latent_channels=16),
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        text_encoder_2=text_encoder_2,
        tokenizer_2=tokenizer_2,
        scheduler=FlowMatchEulerDiscreteScheduler(shift=5.0),
    )
