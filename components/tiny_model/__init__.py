"""Build a tiny, randomly initialised diffusers pipeline offline.

No hub download: the tokenizers are trained locally, every module is built from a config with
random weights. The pipelines and model classes are the real diffusers and transformers ones,
in the real checkpoints' structure (schedulers, VAE compression, patch sizes, text encoders) at a
width of a few dozen, so everything downstream (denoising loop, VAE decode, MP4 encoding,
storage) runs the production code path; only the pictures are noise. The folders are named
neutrally so no backend mistakes one for a real model. One module per family.

Kinds (--kind, default t2v):
  t2v            Wan2.1 text-to-video (WanPipeline)
  i2v            Wan2.1 image-to-video (WanImageToVideoPipeline, with a CLIP image encoder)
  ti2v           Wan2.2-TI2V-5B-shaped text/image-to-video (WanPipeline, expand_timesteps=True)
  a14b           Wan2.2-A14B-shaped text-to-video: two experts and the boundary between them
  i2v-a14b       Wan2.2-I2V-A14B-shaped image-to-video: two experts, no image encoder
  t2i            FLUX.1-shaped text-to-image (FluxPipeline)
  flux-kontext   FLUX.1 Kontext-shaped image editing (FluxKontextPipeline)
  cogvideox      CogVideoX-2B-shaped text-to-video (CogVideoXPipeline)
  cogvideox-i2v  CogVideoX-5B-I2V-shaped image-to-video (CogVideoXImageToVideoPipeline)
  ltx-video      LTX-Video text/image-to-video (LTXPipeline; LTXImageToVideoPipeline on its modules)
  ltx2           LTX-2 text/image-to-video with its sound track (LTX2Pipeline; LTX2ImageToVideoPipeline on its modules)
  hunyuanvideo   HunyuanVideo text-to-video (HunyuanVideoPipeline)
  hunyuanvideo-i2v  HunyuanVideo-I2V image-to-video, LLaVA text encoder (HunyuanVideoImageToVideoPipeline)
  hunyuanvideo-1.5  HunyuanVideo 1.5 text-to-video (HunyuanVideo15Pipeline)
  hunyuanvideo-1.5-i2v  HunyuanVideo 1.5 image-to-video (HunyuanVideo15ImageToVideoPipeline)
  skyreels-v2    SkyReels-V2 text-to-video (SkyReelsV2Pipeline)
  kandinsky-5    Kandinsky 5 text-to-video (Kandinsky5T2VPipeline)
  qwen-image     Qwen-Image text-to-image (QwenImagePipeline)
  qwen-image-edit  Qwen-Image-Edit image editing, Qwen2-VL processor (QwenImageEditPipeline)
  sd3.5          Stable Diffusion 3.5-shaped text-to-image (StableDiffusion3Pipeline)

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
from framecast.components.tiny_model import cogvideox, flux, hunyuan_video, hunyuan_video15, kandinsky5, ltx2, ltx_video, qwen_image, sd3, skyreels_v2, wan

log = logging.getLogger("framecast.tiny_model")

DEFAULT_DIR = "models/tiny-random-t2v"

# The registry entry whose defaults and limits the tiny t2v model follows.
TINY_REGISTRY_ID = "framecast/tiny-random-wan2.1-t2v"


@dataclass(frozen=True)
class TinyKind:
    registry_id: str  # the registry entry whose defaults and limits the model follows
    build: Callable[[int], Any]


KINDS: MappingProxyType[str, TinyKind] = MappingProxyType(
    {
        "t2v": TinyKind(TINY_REGISTRY_ID, wan.build_t2v),
        "i2v": TinyKind("framecast/tiny-random-wan2.1-i2v", wan.build_i2v),
        "ti2v": TinyKind("framecast/tiny-random-wan2.2-ti2v", wan.build_ti2v),
        "a14b": TinyKind("framecast/tiny-random-wan2.2-a14b", wan.build_a14b),
        "i2v-a14b": TinyKind("framecast/tiny-random-wan2.2-i2v-a14b", wan.build_i2v_a14b),
        "t2i": TinyKind("framecast/tiny-random-flux", flux.build_t2i),
        "flux-kontext": TinyKind("framecast/tiny-random-flux-kontext", flux.build_kontext),
        "cogvideox": TinyKind("framecast/tiny-random-cogvideox", cogvideox.build_t2v),
        "cogvideox-i2v": TinyKind("framecast/tiny-random-cogvideox-i2v", cogvideox.build_i2v),
        "ltx-video": TinyKind("framecast/tiny-random-ltx-video", ltx_video.build),
        "ltx2": TinyKind("framecast/tiny-random-ltx2", ltx2.build),
        "hunyuanvideo": TinyKind("framecast/tiny-random-hunyuanvideo", hunyuan_video.build),
        "hunyuanvideo-i2v": TinyKind("framecast/tiny-random-hunyuanvideo-i2v", hunyuan_video.build_i2v),
        "hunyuanvideo-1.5": TinyKind("framecast/tiny-random-hunyuanvideo-1.5", hunyuan_video15.build_t2v),
        "hunyuanvideo-1.5-i2v": TinyKind("framecast/tiny-random-hunyuanvideo-1.5-i2v", hunyuan_video15.build_i2v),
        "skyreels-v2": TinyKind("framecast/tiny-random-skyreels-v2", skyreels_v2.build),
        "kandinsky-5": TinyKind("framecast/tiny-random-kandinsky-5", kandinsky5.build),
        "qwen-image": TinyKind("framecast/tiny-random-qwen-image", qwen_image.build),
        "qwen-image-edit": TinyKind("framecast/tiny-random-qwen-image-edit", qwen_image.build_edit),
        "sd3.5": TinyKind("framecast/tiny-random-sd3.5", sd3.build),
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
    if not hasattr(pipeline_class, "save_lora_weights"):
        raise ValueError(f"{model_dir}: {pipeline_class.__name__} takes no LoRA adapters")
    transformer = getattr(diffusers, index["transformer"][1]).from_pretrained(str(model_dir), subfolder="transformer")
    generator = torch.Generator("cpu").manual_seed(seed)
    # Inside the transformer's lists of blocks (blocks, transformer_blocks, single_transformer_blocks, ...).
    block_lists = tuple(f"{name}." for name, child in transformer.named_children() if isinstance(child, torch.nn.ModuleList))
    layers: dict[str, torch.Tensor] = {}
    for name, module in transformer.named_modules():
        if isinstance(module, torch.nn.Linear) and name.endswith(_LORA_TARGETS) and name.startswith(block_lists):
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
    parser = argparse.ArgumentParser(
        prog="framecast-build-tiny-model", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
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
    # Named as the registry entry's alias, so the folder's name finds its entry.
    output_dir = args.output_dir or f"models/tiny-random-{args.kind}"
    try:
        path = build_tiny_model(output_dir, seed=args.seed, force=args.force, kind=args.kind)
    except FileExistsError as error:
        parser.error(str(error))
    print(path.resolve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
