"""Build a tiny, randomly initialised diffusers pipeline offline.

No hub download: the tokenizers are trained locally, every module is built from a config with
random weights. The pipelines are the real diffusers classes, so everything downstream
(denoising loop, VAE decode, MP4 encoding, storage) runs the production code path; only the
pictures are noise. The folders are named neutrally so no backend mistakes one for a real model.

Kinds (--kind, default t2v):
  t2v   Wan2.1 text-to-video (WanPipeline)
  i2v   Wan2.1 image-to-video (WanImageToVideoPipeline, with a CLIP image encoder)
  ti2v  Wan2.2-TI2V-5B-shaped text/image-to-video (saved as WanPipeline, expand_timesteps=True)
  t2i   FLUX.1-shaped text-to-image (FluxPipeline)

    python -m framecast.components.tiny_model models/tiny-random-t2v
    python -m framecast.components.tiny_model models/tiny-random-i2v --kind i2v
    python -m framecast.components.tiny_model models/tiny-lora-a --lora-for models/tiny-random-t2v

The ti2v folder loads as a WanPipeline (text only); for text + image build the image
pipeline from the same components:

    WanImageToVideoPipeline(tokenizer=pipe.tokenizer, text_encoder=pipe.text_encoder, vae=pipe.vae,
                            scheduler=pipe.scheduler, transformer=pipe.transformer, expand_timesteps=True)
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from framecast.components.registry import SPEC_FILE

log = logging.getLogger("framecast.tiny_model")

DEFAULT_DIR = "models/tiny-random-t2v"

# The registry entry whose defaults and limits the tiny t2v model follows.
TINY_REGISTRY_ID = "framecast/tiny-random-wan2.1-t2v"

_VOCABULARY_TEXT = (
    "a an the of in on at with and or to from by over under through into a cat dog bird fish "
    "horse robot rocket ship car train boat city forest river ocean mountain desert sky cloud "
    "sun moon star rain snow wind fire light shadow red green blue yellow white black golden "
    "silver small big tiny huge fast slow walking running flying swimming jumping dancing "
    "sleeping smiling playing riding sunset sunrise night day morning evening camera pan zoom "
    "close up wide shot slow motion cinematic realistic cartoon painting video photo scene"
)

# Width of every tiny text encoder's output (and of the transformers' text inputs).
_TEXT_DIM = 32


def _word_level_tokenizer(special_tokens: list[str], bos: str | None, eos: str):
    """A word-level tokenizer over the vocabulary above; the specials (one of them <unk>) get ids
    0, 1, 2, ... in order, and every sequence is wrapped as [bos] words eos."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers

    tokenizer = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.WordLevelTrainer(special_tokens=special_tokens)
    tokenizer.train_from_iterator([_VOCABULARY_TEXT], trainer=trainer)
    template = f"{bos} $A {eos}" if bos else f"$A {eos}"
    specials = [(token, tokenizer.token_to_id(token)) for token in (bos, eos) if token]
    tokenizer.post_processor = processors.TemplateProcessing(single=template, special_tokens=specials)
    return tokenizer


def _build_tokenizer(model_max_length: int | None = None):
    """A T5-style tokenizer: <pad>=0, </s>=1, <unk>=2, and </s> closes every sequence."""
    from transformers import PreTrainedTokenizerFast

    extra = {} if model_max_length is None else {"model_max_length": model_max_length}
    return PreTrainedTokenizerFast(
        tokenizer_object=_word_level_tokenizer(["<pad>", "</s>", "<unk>"], bos=None, eos="</s>"),
        pad_token="<pad>",
        eos_token="</s>",
        unk_token="<unk>",
        **extra,
    )


def _build_clip_tokenizer():
    """A CLIP-style tokenizer: <|startoftext|>=0, <|endoftext|>=1 (also the padding, as in CLIP),
    <unk>=2, 77 tokens. FluxPipeline reads its CLIP length from model_max_length."""
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(
        tokenizer_object=_word_level_tokenizer(
            ["<|startoftext|>", "<|endoftext|>", "<unk>"], bos="<|startoftext|>", eos="<|endoftext|>"
        ),
        bos_token="<|startoftext|>",
        eos_token="<|endoftext|>",
        pad_token="<|endoftext|>",
        unk_token="<unk>",
        model_max_length=77,
    )


def _t5_config_kwargs(vocab_size: int) -> dict[str, Any]:
    return {
        "vocab_size": vocab_size,
        "d_model": _TEXT_DIM,
        "d_kv": 8,
        "d_ff": 64,
        "num_layers": 2,
        "num_heads": 4,
        "relative_attention_num_buckets": 8,
        "pad_token_id": 0,
        "eos_token_id": 1,
        "decoder_start_token_id": 0,
    }


def _build_umt5_encoder(tokenizer):
    from transformers import UMT5Config, UMT5EncoderModel

    return UMT5EncoderModel(UMT5Config(**_t5_config_kwargs(len(tokenizer))))


def _build_wan_transformer(**overrides):
    from diffusers import WanTransformer3DModel

    # Sizes follow diffusers' own Wan pipeline tests.
    config = {
        "patch_size": (1, 2, 2),
        "num_attention_heads": 2,
        "attention_head_dim": 12,
        "in_channels": 16,
        "out_channels": 16,
        "text_dim": _TEXT_DIM,
        "freq_dim": 256,
        "ffn_dim": 32,
        "num_layers": 2,
        "cross_attn_norm": True,
        "qk_norm": "rms_norm_across_heads",
        "rope_max_seq_len": 32,
    }
    return WanTransformer3DModel(**(config | overrides))


def _build_wan21_vae():
    from diffusers import AutoencoderKLWan

    return AutoencoderKLWan(
        base_dim=3,
        z_dim=16,
        dim_mult=[1, 1, 1, 1],
        num_res_blocks=1,
        temperal_downsample=[False, True, True],
    )


def _build_unipc_scheduler(flow_shift: float):
    from diffusers import UniPCMultistepScheduler

    # The scheduler real Wan checkpoints ship with.
    return UniPCMultistepScheduler(
        prediction_type="flow_prediction", use_flow_sigmas=True, num_train_timesteps=1000, flow_shift=flow_shift
    )


def _build_t2v_pipeline(seed: int):
    """Wan2.1 T2V: UMT5 text encoder, 16-channel Wan2.1 VAE."""
    import torch
    from diffusers import WanPipeline

    torch.manual_seed(seed)
    tokenizer = _build_tokenizer()
    text_encoder = _build_umt5_encoder(tokenizer)
    transformer = _build_wan_transformer()
    vae = _build_wan21_vae()
    return WanPipeline(
        tokenizer=tokenizer,
        text_encoder=text_encoder,
        vae=vae,
        scheduler=_build_unipc_scheduler(flow_shift=3.0),
        transformer=transformer,
    )


def _build_i2v_pipeline(seed: int):
    """Wan2.1 I2V: the T2V parts plus a CLIP vision encoder whose penultimate hidden states the
    transformer reads through its image cross-attention."""
    import torch
    from diffusers import WanImageToVideoPipeline
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModel

    torch.manual_seed(seed)
    tokenizer = _build_tokenizer()
    text_encoder = _build_umt5_encoder(tokenizer)
    # The pipeline only uses hidden_states[-2], so the projection-less CLIPVisionModel is enough
    # (the real Wan2.1 I2V checkpoints ship that class). 32 px images in 8 px patches: 17 tokens.
    image_encoder = CLIPVisionModel(
        CLIPVisionConfig(
            hidden_size=8,
            intermediate_size=16,
            num_hidden_layers=2,
            num_attention_heads=2,
            image_size=32,
            patch_size=8,
        )
    )
    image_processor = CLIPImageProcessor(crop_size=32, size=32)
    # in_channels 36 = 16 noise latents + 4 first-frame mask + 16 condition latents. Like the real
    # model (and unlike diffusers' test) it has the separate image key/value projections
    # (added_kv_proj_dim = inner dim); the transformer then treats all but the last 512
    # conditioning tokens as image tokens, so max_sequence_length must stay at its default 512.
    transformer = _build_wan_transformer(in_channels=36, image_dim=8, added_kv_proj_dim=2 * 12)
    vae = _build_wan21_vae()
    return WanImageToVideoPipeline(
        tokenizer=tokenizer,
        text_encoder=text_encoder,
        vae=vae,
        scheduler=_build_unipc_scheduler(flow_shift=3.0),
        image_processor=image_processor,
        image_encoder=image_encoder,
        transformer=transformer,
    )


def _build_ti2v_pipeline(seed: int):
    """Wan2.2 TI2V-5B: the 48-channel Wan2.2 VAE (16x spatial compression via a 2x2 pixel patch),
    one transformer, and per-token timesteps (expand_timesteps) so a given first frame stays clean.
    Saved as WanPipeline, as the real checkpoint is; no image encoder."""
    import torch
    from diffusers import AutoencoderKLWan, WanPipeline

    torch.manual_seed(seed)
    tokenizer = _build_tokenizer()
    text_encoder = _build_umt5_encoder(tokenizer)
    transformer = _build_wan_transformer(in_channels=48, out_channels=48)
    # The configuration of diffusers' Wan2.2 5B pipeline tests.
    vae = AutoencoderKLWan(
        base_dim=3,
        z_dim=48,
        in_channels=12,
        out_channels=12,
        is_residual=True,
        patch_size=2,
        latents_mean=[0.0] * 48,
        latents_std=[1.0] * 48,
        dim_mult=[1, 1, 1, 1],
        num_res_blocks=1,
        scale_factor_spatial=16,
        scale_factor_temporal=4,
        temperal_downsample=[False, True, True],
    )
    return WanPipeline(
        tokenizer=tokenizer,
        text_encoder=text_encoder,
        vae=vae,
        scheduler=_build_unipc_scheduler(flow_shift=5.0),
        transformer=transformer,
        expand_timesteps=True,
    )


def _build_t2i_pipeline(seed: int):
    """FLUX.1-dev-shaped: CLIP (pooled) + T5 text encoders, a 16-channel 8x VAE, guidance embedding."""
    import torch
    from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler, FluxPipeline, FluxTransformer2DModel
    from transformers import CLIPTextConfig, CLIPTextModel, T5Config, T5EncoderModel

    torch.manual_seed(seed)
    tokenizer = _build_clip_tokenizer()
    # eos_token_id must be the tokenizer's: CLIP pools the hidden state at the first eos.
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=len(tokenizer),
            hidden_size=_TEXT_DIM,
            intermediate_size=37,
            num_hidden_layers=2,
            num_attention_heads=4,
            max_position_embeddings=tokenizer.model_max_length,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
            hidden_act="gelu",
            projection_dim=_TEXT_DIM,
        )
    )
    tokenizer_2 = _build_tokenizer(model_max_length=512)
    text_encoder_2 = T5EncoderModel(T5Config(**_t5_config_kwargs(len(tokenizer_2))))
    # Transformer sizes from diffusers' Flux tests, except the latent width: 16 VAE channels
    # packed in 2x2 patches give in_channels 64, as in the real model.
    transformer = FluxTransformer2DModel(
        patch_size=1,
        in_channels=64,
        num_layers=1,
        num_single_layers=1,
        attention_head_dim=16,
        num_attention_heads=2,
        joint_attention_dim=_TEXT_DIM,
        pooled_projection_dim=_TEXT_DIM,
        guidance_embeds=True,
        axes_dims_rope=[4, 4, 8],
    )
    # Four blocks make the VAE downsample 8x like the real one (diffusers' test VAE has one block,
    # so 1x), hence sizes in multiples of 16 as for FLUX.1.
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D"] * 4,
        up_block_types=["UpDecoderBlock2D"] * 4,
        block_out_channels=(4, 4, 4, 4),
        layers_per_block=1,
        latent_channels=16,
        norm_num_groups=1,
        sample_size=32,
        use_quant_conv=False,
        use_post_quant_conv=False,
        shift_factor=0.1159,
        scaling_factor=0.3611,
    )
    # FLUX.1's scheduler configuration: the shift grows with the image's token count.
    scheduler = FlowMatchEulerDiscreteScheduler(
        num_train_timesteps=1000,
        shift=3.0,
        use_dynamic_shifting=True,
        base_shift=0.5,
        max_shift=1.15,
        base_image_seq_len=256,
        max_image_seq_len=4096,
    )
    return FluxPipeline(
        scheduler=scheduler,
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        text_encoder_2=text_encoder_2,
        tokenizer_2=tokenizer_2,
        transformer=transformer,
    )


@dataclass(frozen=True)
class TinyKind:
    registry_id: str  # the registry entry whose defaults and limits the model follows
    default_dir: str
    build: Callable[[int], Any]


KINDS: MappingProxyType[str, TinyKind] = MappingProxyType(
    {
        "t2v": TinyKind(TINY_REGISTRY_ID, DEFAULT_DIR, _build_t2v_pipeline),
        "i2v": TinyKind("framecast/tiny-random-wan2.1-i2v", "models/tiny-random-i2v", _build_i2v_pipeline),
        "ti2v": TinyKind("framecast/tiny-random-wan2.2-ti2v", "models/tiny-random-ti2v", _build_ti2v_pipeline),
        "t2i": TinyKind("framecast/tiny-random-flux", "models/tiny-random-t2i", _build_t2i_pipeline),
    }
)


def _kind(kind: str) -> TinyKind:
    try:
        return KINDS[kind]
    except KeyError:
        raise ValueError(f"unknown tiny model kind {kind!r}; expected one of {', '.join(KINDS)}") from None


def build_tiny_pipeline(seed: int = 0, kind: str = "t2v"):
    """Return a randomly initialised pipeline of the given kind, a few hundred kilobytes."""
    return _kind(kind).build(seed)


def build_tiny_model(output_dir: str | Path, seed: int = 0, force: bool = False, kind: str = "t2v") -> Path:
    """Write the tiny pipeline in diffusers format (plus framecast's spec file) to output_dir."""
    spec = _kind(kind)
    output = Path(output_dir)
    if (output / "model_index.json").exists() and (output / SPEC_FILE).exists() and not force:
        # Never hand back another kind's model under this kind's name.
        existing = json.loads((output / SPEC_FILE).read_text()).get("registry_id")
        if existing != spec.registry_id:
            raise FileExistsError(f"{output} holds {existing}, not {spec.registry_id}: pass force=True (--force)")
        log.info("tiny model already at %s", output)
        return output
    output.mkdir(parents=True, exist_ok=True)
    spec.build(seed).save_pretrained(output)
    (output / SPEC_FILE).write_text(json.dumps({"registry_id": spec.registry_id}, indent=2) + "\n")
    log.info("tiny %s model written to %s", kind, output)
    return output


# Linear layers a tiny LoRA adapts: the attention projections of every transformer block.
_LORA_TARGETS = ("to_q", "to_k", "to_v", "to_out.0")


def build_tiny_lora(model_dir: str | Path, output_dir: str | Path, seed: int = 0, rank: int = 4, strength: float = 0.2) -> Path:
    """Write a random LoRA for the transformer of the tiny model in `model_dir` (diffusers'
    format, one safetensors file in output_dir), deterministic from `seed`. Both factors are
    random (a trained adapter's B is not zero), so at scale 1 the frames change."""
    import diffusers
    import torch
    from peft import LoraConfig

    # Only the transformer is read (a full-size model's text encoder would cost minutes).
    index = json.loads((Path(model_dir) / "model_index.json").read_text())
    pipeline_class = getattr(diffusers, index["_class_name"])
    transformer = getattr(diffusers, index["transformer"][1]).from_pretrained(str(model_dir), subfolder="transformer")
    generator = torch.Generator("cpu").manual_seed(seed)
    layers: dict[str, torch.Tensor] = {}
    for name, module in transformer.named_modules():
        if isinstance(module, torch.nn.Linear) and name.endswith(_LORA_TARGETS) and ".blocks." in f".{name}":
            layers[f"{name}.lora_A.weight"] = torch.randn(rank, module.in_features, generator=generator) * strength
            layers[f"{name}.lora_B.weight"] = torch.randn(module.out_features, rank, generator=generator) * strength
    if not layers:
        raise ValueError(f"{model_dir}: no attention layers found to adapt")
    targets = sorted({key.rsplit(".lora_", 1)[0] for key in layers})
    # diffusers reads the adapter's whole peft config from the file's metadata.
    config = LoraConfig(r=rank, lora_alpha=rank, target_modules=targets, init_lora_weights=False).to_dict()
    config["target_modules"] = targets
    output = Path(output_dir)
    output.mkdir(parents=True, exist_ok=True)
    pipeline_class.save_lora_weights(output, transformer_lora_layers=layers, transformer_lora_adapter_metadata=config)
    log.info("tiny LoRA for %s written to %s", model_dir, output)
    return output


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "output_dir", nargs="?", help="where to write it (default models/tiny-random-KIND, e.g. " + DEFAULT_DIR + ")"
    )
    parser.add_argument("--kind", choices=list(KINDS), default="t2v", help="which pipeline to build (default t2v)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random weights")
    parser.add_argument("--force", action="store_true", help="rebuild even if the folder already holds a model")
    parser.add_argument(
        "--lora-for", metavar="MODEL_DIR", help="instead of a model, write a random LoRA adapter for the tiny model in MODEL_DIR"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.lora_for:
        if not args.output_dir:
            parser.error("--lora-for: name the output folder")
        print(build_tiny_lora(args.lora_for, args.output_dir, seed=args.seed).resolve())
        return 0
    output_dir = args.output_dir or KINDS[args.kind].default_dir
    try:
        path = build_tiny_model(output_dir, seed=args.seed, force=args.force, kind=args.kind)
    except FileExistsError as error:
        parser.error(str(error))
    print(path.resolve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
