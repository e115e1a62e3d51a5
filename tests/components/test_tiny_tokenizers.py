"""The tiny models' tokenizers count each pipeline's prompt template as the real tokenizer does:
the pipeline cuts that many tokens from the text encoder's output, so another count would cut
into the prompt or leave template in it."""

from __future__ import annotations

from PIL import Image

from framecast.components.tiny_model import hunyuan_video, hunyuan_video15, kandinsky5, qwen_image

PROMPT = "a red fish"


def test_hunyuanvideo_15_counts_its_system_message_as_the_tokens_it_cuts():
    pipeline = hunyuan_video15.build_t2v(0)
    messages = [[{"role": "system", "content": pipeline.system_message}, {"role": "user", "content": PROMPT}]]
    ids = pipeline.tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True)["input_ids"][0]
    tokens = pipeline.tokenizer.convert_ids_to_tokens(ids)
    start = pipeline.prompt_template_encode_start_idx
    assert start == 108 and "".join(tokens[start : start + 3]) == PROMPT


def test_kandinsky_5_counts_its_prompt_template_as_the_tokens_it_cuts():
    pipeline = kandinsky5.build(0)
    ids = pipeline.tokenizer(text=[pipeline.prompt_template.format(PROMPT)], images=None, videos=None)["input_ids"][0]
    tokens = pipeline.tokenizer.convert_ids_to_tokens(ids)
    start = pipeline.prompt_template_encode_start_idx
    assert start == 129 and "".join(tokens[start : start + 3]) == PROMPT


def test_hunyuanvideo_i2v_finds_its_image_template_end_and_prompt_where_llama_3_puts_them():
    from diffusers.pipelines.hunyuan_video.pipeline_hunyuan_video_image2video import DEFAULT_PROMPT_TEMPLATE

    pipeline = hunyuan_video.build_i2v(0)
    ids = pipeline.tokenizer(DEFAULT_PROMPT_TEMPLATE["template"].format(PROMPT))["input_ids"]
    tokens = pipeline.tokenizer.convert_ids_to_tokens(ids)
    start = DEFAULT_PROMPT_TEMPLATE["crop_start"]
    assert start == 103 and " ".join(tokens[start : start + 3]) == PROMPT
    # The image's tokens go where <image> stands, the text encoder's image token.
    assert ids.index(pipeline.text_encoder.config.image_token_index) == DEFAULT_PROMPT_TEMPLATE["image_emb_start"] == 5
    # The template's end is the last of its four double line breaks, Llama 3's token 271.
    breaks = [index for index, token in enumerate(ids) if token == DEFAULT_PROMPT_TEMPLATE["double_return_token_id"] == 271]
    assert len(breaks) == 4 and tokens[breaks[-1] - 1] == "<|end_header_id|>" and breaks[-1] == len(ids) - 1


def test_qwen_image_edit_cuts_its_system_message_and_keeps_the_image_and_prompt():
    pipeline = qwen_image.build_edit(0)
    image = Image.new("RGB", (64, 64), (10, 20, 30))
    inputs = pipeline.processor(text=[pipeline.prompt_template_encode.format(PROMPT)], images=image, return_tensors="pt")
    tokens = pipeline.tokenizer.convert_ids_to_tokens(inputs["input_ids"][0])
    start = pipeline.prompt_template_encode_start_idx
    # What the pipeline keeps starts at the image, whose tokens the text encoder's vision tower fills.
    assert start == 64 and tokens[start] == "<|vision_start|>"
    pads = tokens.count("<|image_pad|>")
    merge = pipeline.processor.image_processor.merge_size
    assert pads == int(inputs["image_grid_thw"].prod()) // merge**2 >= 1
    assert inputs["input_ids"][0][start + 1] == pipeline.text_encoder.config.image_token_id
    prompt_at = start + pads + 2
    assert tokens[prompt_at - 1] == "<|vision_end|>" and " ".join(tokens[prompt_at : prompt_at + 3]) == PROMPT
