"""Tiny Qwen-Image text-to-image model."""

from __future__ import annotations

from framecast.components.tiny_model.text import qwen25_vl_encoder, word_level_tokenizer

_CHAT_SPECIALS = ["<|endoftext|>", "<|im_start|>", "<unk>", "<|im_end|>"]
# The words of QwenImagePipeline's prompt template. The pipeline cuts the template's first 34
# tokens from the encoder's output, so the tokenizer must count them as Qwen's does: words,
# punctuation and line breaks one token each.
_TEMPLATE_WORDS = "system user assistant Describe image detailing color shape size texture quantity text spatial relationships objects background , :\n"
_QWEN_TOKENS = r"\w+|[^\w\s]+|\n"
_TEXT_WIDTH = 16


def _tokenizer():
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(
        tokenizer_object=word_level_tokenizer(_CHAT_SPECIALS, bos=None, eos=None, extra_words=_TEMPLATE_WORDS, pattern=_QWEN_TOKENS),
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token="<unk>",
        model_max_length=32768,
    )


def build(seed: int):
    """Qwen-Image: Qwen2.5-VL's language model as text encoder (its last hidden states), a
    16-channel Wan-style image VAE (8x), an MMDiT on 2x2 patches with true CFG (no embedded
    guidance)."""
    import torch
    from diffusers import AutoencoderKLQwenImage, FlowMatchEulerDiscreteScheduler, QwenImagePipeline, QwenImageTransformer2DModel

    torch.manual_seed(seed)
    tokenizer = _tokenizer()
    text_encoder = qwen25_vl_encoder(tokenizer, _TEXT_WIDTH)
    transformer = QwenImageTransformer2DModel(
        patch_size=2,
        in_channels=64,
        out_channels=16,
        num_layers=2,
        attention_head_dim=16,
        num_attention_heads=2,
        joint_attention_dim=_TEXT_WIDTH,
        guidance_embeds=False,
        axes_dims_rope=(8, 4, 4),
    )
    vae = AutoencoderKLQwenImage(
        base_dim=4,
        z_dim=16,
        dim_mult=[1, 1, 1, 1],
        num_res_blocks=1,
        temperal_downsample=[False, True, True],
        latents_mean=[0.0] * 16,
        latents_std=[1.0] * 16,
    )
    # Qwen-Image's scheduler configuration: an exponential shift that follows the token count.
    scheduler = FlowMatchEulerDiscreteScheduler(
        num_train_timesteps=1000,
        shift=1.0,
        use_dynamic_shifting=True,
        base_shift=0.5,
        max_shift=0.9,
        base_image_seq_len=256,
        max_image_seq_len=8192,
        shift_terminal=0.02,
        time_shift_type="exponential",
    )
    return QwenImagePipeline(transformer=transformer, scheduler=scheduler, vae=vae, text_encoder=text_encoder, tokenizer=tokenizer)
