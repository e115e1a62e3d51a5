"""Tiny Qwen-Image models: text-to-image, and image editing (Qwen-Image-Edit)."""

from __future__ import annotations

from framecast.components.tiny_model.text import QWEN_VISION_TOKENS, qwen25_vl_encoder, word_level_tokenizer

_CHAT_SPECIALS = ("<|endoftext|>", "<|im_start|>", "<unk>", "<|im_end|>")
# The words of the pipelines' prompt templates. Each pipeline cuts its template's first tokens
# (34; the edit pipeline 64) from the encoder's output, so the tokenizer must count them as
# Qwen's does: words, punctuation, line breaks and the contraction 's one token each.
_TEMPLATE_WORDS = "system user assistant Describe image detailing color shape size texture quantity text spatial relationships objects background , :\n"
_EDIT_TEMPLATE_WORDS = (
    "key features input then explain how 's instruction should alter modify Generate new that meets requirements "
    "while maintaining consistency original where appropriate ( ), ."
)
_QWEN_TOKENS = r"'s|\w+|[^\w\s]+|\n"
_TEXT_WIDTH = 16
# The edit model's prompt image, as Qwen2-VL's processor sizes it: 56x56 at the most, a few
# image tokens (the real one allows about a megapixel).
_PROMPT_IMAGE_PIXELS = (28 * 28, 56 * 56)


def _tokenizer(specials: tuple[str, ...] = _CHAT_SPECIALS, extra_words: str = _TEMPLATE_WORDS):
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(
        tokenizer_object=word_level_tokenizer(list(specials), bos=None, eos=None, extra_words=extra_words, pattern=_QWEN_TOKENS),
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token="<unk>",
        model_max_length=32768,
    )


def build(seed: int):
    """Qwen-Image: Qwen2.5-VL's language model as text encoder (its last hidden states), a
    16-channel Wan-style image VAE (8x), an MMDiT on 2x2 patches with true CFG (no embedded
    guidance)."""
    from diffusers import QwenImagePipeline

    return QwenImagePipeline(**_modules(seed, _tokenizer()))


def build_edit(seed: int):
    """Qwen-Image-Edit: Qwen-Image's modules, and a Qwen2-VL processor that puts the input image
    into the text encoder's prompt (its vision tower reads it); the image's latents also ride
    beside the noise."""
    from diffusers import QwenImageEditPipeline
    from transformers import Qwen2VLImageProcessor, Qwen2VLProcessor, Qwen2VLVideoProcessor

    tokenizer = _tokenizer((*_CHAT_SPECIALS, *QWEN_VISION_TOKENS), f"{_TEMPLATE_WORDS} {_EDIT_TEMPLATE_WORDS}")
    least, most = _PROMPT_IMAGE_PIXELS
    processor = Qwen2VLProcessor(
        image_processor=Qwen2VLImageProcessor(min_pixels=least, max_pixels=most),
        video_processor=Qwen2VLVideoProcessor(min_pixels=least, max_pixels=most),
        tokenizer=tokenizer,
    )
    return QwenImageEditPipeline(processor=processor, **_modules(seed, tokenizer))


def _modules(seed: int, tokenizer) -> dict:
    import torch
    from diffusers import AutoencoderKLQwenImage, FlowMatchEulerDiscreteScheduler, QwenImageTransformer2DModel

    torch.manual_seed(seed)
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
    return {"transformer": transformer, "scheduler": scheduler, "vae": vae, "text_encoder": text_encoder, "tokenizer": tokenizer}
