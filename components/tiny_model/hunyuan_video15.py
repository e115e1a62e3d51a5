"""Tiny HunyuanVideo 1.5 models (text-to-video, image-to-video)."""

from __future__ import annotations

from framecast.components.tiny_model.text import t5_config_kwargs, word_level_tokenizer

_CHAT_SPECIALS = ["<|endoftext|>", "<|im_start|>", "<unk>", "<|im_end|>"]
# Qwen 2.5's chat template, which the pipeline applies to the prompt with its system message.
_CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
# The pipeline cuts the first 108 tokens (the system message) from the encoder's output, so the
# tokenizer splits text as Qwen's pre-tokenizer does (a word with the space before it, one digit,
# punctuation, line breaks, a run of spaces less its last): the system message is 108 tokens.
QWEN_TOKENS = r"[^\r\n\w]?[A-Za-z]+|\d| ?[^\s\w]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
_TEMPLATE_WORDS = (
    "system user assistant You are a helpful Describe the video by detailing following aspects main content "
    "and theme of color shape size texture quantity text spatial relationships objects Actions events behaviors "
    "temporal physical movement changes background environment light style atmosphere camera angles movements "
    "transitions used in"
)
_TEXT_WIDTH = 16
_GLYPH_WIDTH = 32
_IMAGE_WIDTH = 12


def qwen_tokenizer(template_words: str = _TEMPLATE_WORDS, pattern: str = QWEN_TOKENS):
    """A Qwen-style tokenizer that knows the words of a pipeline's prompt template, with Qwen 2.5's
    chat template; `pattern` splits text into its tokens."""
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(
        tokenizer_object=word_level_tokenizer(_CHAT_SPECIALS, bos=None, eos=None, extra_words=template_words, pattern=pattern),
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token="<unk>",
        model_max_length=32768,
        chat_template=_CHAT_TEMPLATE,
    )


def _modules(seed: int, task: str) -> dict:
    """HunyuanVideo 1.5: Qwen2.5-VL's language model (a hidden state two layers from the top) and
    ByT5 for quoted text, the VAE compressing 16x in space and 4x in time, a DiT on single latent
    pixels, guidance through a classifier-free guider (the pipeline takes no guidance_scale)."""
    import torch
    from diffusers import AutoencoderKLHunyuanVideo15, FlowMatchEulerDiscreteScheduler, HunyuanVideo15Transformer3DModel
    from diffusers.guiders import ClassifierFreeGuidance
    from transformers import ByT5Tokenizer, Qwen2_5_VLTextConfig, Qwen2_5_VLTextModel, T5Config, T5EncoderModel

    torch.manual_seed(seed)
    tokenizer = qwen_tokenizer()
    text_encoder = Qwen2_5_VLTextModel(
        Qwen2_5_VLTextConfig(
            hidden_size=_TEXT_WIDTH,
            intermediate_size=16,
            num_hidden_layers=2,
            num_attention_heads=2,
            num_key_value_heads=2,
            rope_scaling={"mrope_section": [1, 1, 2], "rope_type": "default", "type": "default"},
            rope_theta=1000000.0,
            vocab_size=len(tokenizer),
            bos_token_id=tokenizer.pad_token_id,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
        )
    ).eval()
    # ByT5 reads bytes: its tokenizer needs no vocabulary file.
    tokenizer_2 = ByT5Tokenizer()
    text_encoder_2 = T5EncoderModel(T5Config(**(t5_config_kwargs(len(tokenizer_2)) | {"d_model": _GLYPH_WIDTH}))).eval()
    transformer = HunyuanVideo15Transformer3DModel(
        # The noisy latents, the image latents (zeros for text only) and their mask.
        in_channels=4 * 2 + 1,
        out_channels=4,
        num_attention_heads=2,
        attention_head_dim=8,
        num_layers=2,
        num_refiner_layers=1,
        mlp_ratio=2.0,
        patch_size=1,
        patch_size_t=1,
        text_embed_dim=_TEXT_WIDTH,
        text_embed_2_dim=_GLYPH_WIDTH,
        image_embed_dim=_IMAGE_WIDTH,
        rope_axes_dim=(2, 2, 4),
        # The size its image-to-video pipeline buckets an input image to (64x64 and its aspect ratios).
        target_size=64,
        task_type=task,
    )
    vae = AutoencoderKLHunyuanVideo15(
        in_channels=3,
        out_channels=3,
        latent_channels=4,
        block_out_channels=(8, 8, 8, 8, 8),
        layers_per_block=1,
        spatial_compression_ratio=16,
        temporal_compression_ratio=4,
        downsample_match_channel=False,
        upsample_match_channel=False,
    )
    return {
        "text_encoder": text_encoder,
        "tokenizer": tokenizer,
        "transformer": transformer,
        "vae": vae,
        "scheduler": FlowMatchEulerDiscreteScheduler(shift=5.0),
        "text_encoder_2": text_encoder_2,
        "tokenizer_2": tokenizer_2,
        "guider": ClassifierFreeGuidance(guidance_scale=6.0),
    }


def build_t2v(seed: int):
    from diffusers import HunyuanVideo15Pipeline

    return HunyuanVideo15Pipeline(**_modules(seed, "t2v"))


def build_i2v(seed: int):
    """Image-to-video: the same modules and a SigLIP image encoder reading 27x27 patches (729
    tokens, as the real one's)."""
    from diffusers import HunyuanVideo15ImageToVideoPipeline
    from transformers import SiglipImageProcessor, SiglipVisionConfig, SiglipVisionModel

    modules = _modules(seed, "i2v")
    image_encoder = SiglipVisionModel(
        SiglipVisionConfig(hidden_size=_IMAGE_WIDTH, intermediate_size=16, num_hidden_layers=1, num_attention_heads=2, image_size=27, patch_size=1)
    ).eval()
    feature_extractor = SiglipImageProcessor(size={"height": 27, "width": 27})
    return HunyuanVideo15ImageToVideoPipeline(**modules, image_encoder=image_encoder, feature_extractor=feature_extractor)
