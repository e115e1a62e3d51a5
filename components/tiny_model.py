"""Build a tiny, randomly initialised Wan2.1 text-to-video pipeline offline.

No hub download: the tokenizer is trained locally, every module is built from a config with
random weights. The pipeline is the real diffusers WanPipeline, so everything downstream
(denoising loop, VAE decode, MP4 encoding, storage) runs the production code path; only the
pictures are noise. The folder is named neutrally so no backend mistakes it for a real model.

    python -m framecast.components.tiny_model models/tiny-random-t2v
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from framecast.components.registry import SPEC_FILE

log = logging.getLogger("framecast.tiny_model")

DEFAULT_DIR = "models/tiny-random-t2v"

# The registry entry whose defaults and limits the tiny model follows.
TINY_REGISTRY_ID = "framecast/tiny-random-wan2.1-t2v"

_VOCABULARY_TEXT = (
    "a an the of in on at with and or to from by over under through into a cat dog bird fish "
    "horse robot rocket ship car train boat city forest river ocean mountain desert sky cloud "
    "sun moon star rain snow wind fire light shadow red green blue yellow white black golden "
    "silver small big tiny huge fast slow walking running flying swimming jumping dancing "
    "sleeping smiling playing riding sunset sunrise night day morning evening camera pan zoom "
    "close up wide shot slow motion cinematic realistic cartoon painting video photo scene"
)


def _build_tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    # T5 conventions: <pad>=0, </s>=1, <unk>=2, and </s> closes every sequence.
    tokenizer = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.WordLevelTrainer(special_tokens=["<pad>", "</s>", "<unk>"])
    tokenizer.train_from_iterator([_VOCABULARY_TEXT], trainer=trainer)
    tokenizer.post_processor = processors.TemplateProcessing(
        single="$A </s>", special_tokens=[("</s>", tokenizer.token_to_id("</s>"))]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, pad_token="<pad>", eos_token="</s>", unk_token="<unk>"
    )


def build_tiny_pipeline(seed: int = 0):
    """Return a randomly initialised WanPipeline of a few hundred kilobytes."""
    import torch
    from diffusers import AutoencoderKLWan, UniPCMultistepScheduler, WanPipeline, WanTransformer3DModel
    from transformers import UMT5Config, UMT5EncoderModel

    torch.manual_seed(seed)
    tokenizer = _build_tokenizer()
    text_dim = 32
    text_encoder = UMT5EncoderModel(
        UMT5Config(
            vocab_size=len(tokenizer),
            d_model=text_dim,
            d_kv=8,
            d_ff=64,
            num_layers=2,
            num_heads=4,
            relative_attention_num_buckets=8,
            pad_token_id=0,
            eos_token_id=1,
            decoder_start_token_id=0,
        )
    )
    # Sizes follow diffusers' own Wan pipeline tests.
    transformer = WanTransformer3DModel(
        patch_size=(1, 2, 2),
        num_attention_heads=2,
        attention_head_dim=12,
        in_channels=16,
        out_channels=16,
        text_dim=text_dim,
        freq_dim=256,
        ffn_dim=32,
        num_layers=2,
        cross_attn_norm=True,
        qk_norm="rms_norm_across_heads",
        rope_max_seq_len=32,
    )
    vae = AutoencoderKLWan(
        base_dim=3,
        z_dim=16,
        dim_mult=[1, 1, 1, 1],
        num_res_blocks=1,
        temperal_downsample=[False, True, True],
    )
    # The scheduler real Wan2.1 checkpoints ship with.
    scheduler = UniPCMultistepScheduler(
        prediction_type="flow_prediction", use_flow_sigmas=True, num_train_timesteps=1000, flow_shift=3.0
    )
    return WanPipeline(
        tokenizer=tokenizer, text_encoder=text_encoder, vae=vae, scheduler=scheduler, transformer=transformer
    )


def build_tiny_model(output_dir: str | Path, seed: int = 0, force: bool = False) -> Path:
    """Write the tiny pipeline in diffusers format (plus framecast's spec file) to output_dir."""
    output = Path(output_dir)
    if (output / "model_index.json").exists() and (output / SPEC_FILE).exists() and not force:
        log.info("tiny model already at %s", output)
        return output
    output.mkdir(parents=True, exist_ok=True)
    build_tiny_pipeline(seed).save_pretrained(output)
    (output / SPEC_FILE).write_text(json.dumps({"registry_id": TINY_REGISTRY_ID}, indent=2) + "\n")
    log.info("tiny model written to %s", output)
    return output


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("output_dir", nargs="?", default=DEFAULT_DIR, help=f"where to write it (default {DEFAULT_DIR})")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random weights")
    parser.add_argument("--force", action="store_true", help="rebuild even if the folder already holds a model")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    path = build_tiny_model(args.output_dir, seed=args.seed, force=args.force)
    print(path.resolve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
