"""Tokenizers and text encoders for the tiny models: word-level tokenizers trained offline on a
short vocabulary, and the real transformers encoder classes at a width of a few dozen."""

from __future__ import annotations

from typing import Any

_VOCABULARY_TEXT = (
    "a an the of in on at with and or to from by over under through into a cat dog bird fish "
    "horse robot rocket ship car train boat city forest river ocean mountain desert sky cloud "
    "sun moon star rain snow wind fire light shadow red green blue yellow white black golden "
    "silver small big tiny huge fast slow walking running flying swimming jumping dancing "
    "sleeping smiling playing riding sunset sunrise night day morning evening camera pan zoom "
    "close up wide shot slow motion cinematic realistic cartoon painting video photo scene"
)

# Width of every tiny text encoder's output (and of the transformers' text inputs).
TEXT_DIM = 32


def word_level_tokenizer(
    special_tokens: list[str], bos: str | None, eos: str | None, extra_words: str = "", pattern: str | None = None
):
    """A word-level tokenizer over the vocabulary above (plus `extra_words`); the specials (one of
    them <unk>) get ids 0, 1, 2, ... in order, and every sequence is wrapped as [bos] words [eos].
    A token is a run of letters or digits, or of punctuation; or each match of `pattern`, for
    pipelines whose prompt template cuts a fixed number of tokens (they must count as the real
    tokenizer does)."""
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers, processors, trainers

    tokenizer = Tokenizer(models.WordLevel(unk_token="<unk>"))
    if pattern:
        tokenizer.pre_tokenizer = pre_tokenizers.Split(Regex(pattern), behavior="removed", invert=True)
    else:
        tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.WordLevelTrainer(special_tokens=special_tokens)
    tokenizer.train_from_iterator([_VOCABULARY_TEXT, extra_words], trainer=trainer)
    template = " ".join(token for token in (bos, "$A", eos) if token)
    specials = [(token, tokenizer.token_to_id(token)) for token in (bos, eos) if token]
    tokenizer.post_processor = processors.TemplateProcessing(single=template, special_tokens=specials)
    return tokenizer


def t5_tokenizer(model_max_length: int | None = None):
    """A T5-style tokenizer: <pad>=0, </s>=1, <unk>=2, and </s> closes every sequence."""
    from transformers import PreTrainedTokenizerFast

    extra = {} if model_max_length is None else {"model_max_length": model_max_length}
    return PreTrainedTokenizerFast(
        tokenizer_object=word_level_tokenizer(["<pad>", "</s>", "<unk>"], bos=None, eos="</s>"),
        pad_token="<pad>",
        eos_token="</s>",
        unk_token="<unk>",
        **extra,
    )


def clip_tokenizer():
    """A CLIP-style tokenizer: <|startoftext|>=0, <|endoftext|>=1 (also the padding, as in CLIP),
    <unk>=2, 77 tokens. Pipelines read the CLIP length from model_max_length."""
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(
        tokenizer_object=word_level_tokenizer(
            ["<|startoftext|>", "<|endoftext|>", "<unk>"], bos="<|startoftext|>", eos="<|endoftext|>"
        ),
        bos_token="<|startoftext|>",
        eos_token="<|endoftext|>",
        pad_token="<|endoftext|>",
        unk_token="<unk>",
        model_max_length=77,
    )


def t5_config_kwargs(vocab_size: int) -> dict[str, Any]:
    return {
        "vocab_size": vocab_size,
        "d_model": TEXT_DIM,
        "d_kv": 8,
        "d_ff": 64,
        "num_layers": 2,
        "num_heads": 4,
        "relative_attention_num_buckets": 8,
        "pad_token_id": 0,
        "eos_token_id": 1,
        "decoder_start_token_id": 0,
    }


def t5_encoder(tokenizer):
    from transformers import T5Config, T5EncoderModel

    return T5EncoderModel(T5Config(**t5_config_kwargs(len(tokenizer)))).eval()


def umt5_encoder(tokenizer):
    from transformers import UMT5Config, UMT5EncoderModel

    return UMT5EncoderModel(UMT5Config(**t5_config_kwargs(len(tokenizer)))).eval()


def clip_text_encoder(tokenizer, hidden_size: int = TEXT_DIM, with_projection: bool = False):
    """CLIP's text model; eos_token_id must be the tokenizer's, since CLIP pools the hidden state
    at the first eos. With the projection (SD3) the pooled output is text_embeds."""
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    config = CLIPTextConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=37,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=tokenizer.model_max_length,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        hidden_act="gelu",
        projection_dim=hidden_size,
    )
    return (CLIPTextModelWithProjection if with_projection else CLIPTextModel)(config).eval()


# Qwen2.5-VL's vision tokens, in the order the encoder's config names them.
QWEN_VISION_TOKENS = ("<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>")


def qwen25_vl_encoder(tokenizer, width: int):
    """Qwen2.5-VL (language model and a one-layer vision tower) at `width`, with its rotary
    sections scaled to the head size. A tokenizer that holds the vision tokens (an edit model's,
    whose prompt carries the image) gives their ids; otherwise they never occur in a prompt and
    get ids past the tokenizer's."""
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    vocabulary = len(tokenizer)
    known = tokenizer.get_vocab()
    if all(token in known for token in QWEN_VISION_TOKENS):
        start, end, image, video = (known[token] for token in QWEN_VISION_TOKENS)
        size = vocabulary
    else:
        start, end, image, video = vocabulary, vocabulary + 1, vocabulary + 2, vocabulary + 2
        size = vocabulary + 3
    return Qwen2_5_VLForConditionalGeneration(
        Qwen2_5_VLConfig(
            text_config={
                "hidden_size": width,
                "intermediate_size": width,
                "num_hidden_layers": 2,
                "num_attention_heads": 2,
                "num_key_value_heads": 2,
                "rope_scaling": {"mrope_section": [width // 16, width // 16, width // 8], "rope_type": "default", "type": "default"},
                "rope_theta": 1000000.0,
                "vocab_size": size,
                "bos_token_id": tokenizer.pad_token_id,
                "eos_token_id": tokenizer.eos_token_id,
                "pad_token_id": tokenizer.pad_token_id,
            },
            vision_config={"depth": 1, "hidden_size": 16, "intermediate_size": 16, "num_heads": 2, "out_hidden_size": width},
            hidden_size=width,
            vocab_size=size,
            vision_start_token_id=start,
            vision_end_token_id=end,
            vision_token_id=image,
            image_token_id=image,
            video_token_id=video,
        )
    ).eval()
