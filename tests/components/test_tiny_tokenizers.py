"""The tiny models' tokenizers count each pipeline's prompt template as the real tokenizer does:
the pipeline cuts that many tokens from the text encoder's output, so another count would cut
into the prompt or leave template in it."""

from __future__ import annotations

from framecast.components.tiny_model import hunyuan_video15, kandinsky5

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
