"""The model registry: resolving requests against a spec, finding specs, support levels."""

from __future__ import annotations

import dataclasses
import json

import pytest

from framecast.components.hardware import Gpu, HardwareProfile
from framecast.components.registry import (
    REGISTRY,
    SPEC_FILE,
    UnknownModelError,
    choose_backend,
    launch_plan,
    lookup,
    Support,
    spec_for_model,
    support,
)
from framecast.protocol import GenerationKnobs, RequestFieldError

WAN_1_3B = lookup("Wan-AI/Wan2.1-T2V-1.3B-Diffusers")
CPU_ONLY = HardwareProfile(cpu_count=2, memory_gb=24, backends={"diffusers": True, "sglang": False})


def resolve(spec=WAN_1_3B, **knobs):
    return spec.resolve(GenerationKnobs(prompt="p", **knobs), "Wan2.1-T2V-1.3B")


def test_omitted_knobs_take_the_defaults():
    params = resolve()
    assert (params.width, params.height, params.num_frames, params.fps) == (832, 480, 81, 16)
    assert (params.num_inference_steps, params.guidance_scale, params.flow_shift) == (50, 5.0, 3.0)
    assert params.negative_prompt == WAN_1_3B.defaults.negative_prompt != ""
    assert 0 <= params.seed < 2**31


def test_a_model_that_makes_sound_keeps_it_unless_the_request_drops_it():
    ltx2 = lookup("Lightricks/LTX-2")
    assert resolve(ltx2).sound is True and resolve(ltx2, audio=True).sound is True
    assert resolve(ltx2, audio=False).sound is False


def test_asking_sound_of_a_model_that_makes_none_names_the_field():
    assert resolve(audio=False).sound is False
    with pytest.raises(RequestFieldError) as raised:
        resolve(audio=True)
    assert raised.value.param == "audio" and "makes no sound" in raised.value.message


def test_a_side_under_what_the_vae_decodes_names_the_size():
    spec = dataclasses.replace(WAN_1_3B, limits=dataclasses.replace(WAN_1_3B.limits, min_side=128, min_pixels=64 * 64))
    assert spec.limits.smallest_side == 128
    with pytest.raises(RequestFieldError) as raised:
        resolve(spec, width=1024, height=112)
    assert raised.value.param == "size" and "at least 128" in raised.value.message
    assert resolve(spec, width=1024, height=128).height == 128


def test_the_cheapest_size_is_the_smallest_listed_where_only_those_are_taken():
    i2v = lookup("hunyuanvideo-community/HunyuanVideo-1.5-480p_i2v")
    assert i2v.limits.smallest_size == (848, 480)  # 407,040 pixels; 640x640 is 409,600
    assert WAN_1_3B.limits.smallest_size == (WAN_1_3B.limits.smallest_side,) * 2
    with pytest.raises(RequestFieldError) as raised:
        resolve(i2v, width=832, height=480)
    assert raised.value.param == "size"


def test_num_frames_overrides_seconds_times_fps():
    assert resolve(num_frames=33, seconds=5, fps=16).num_frames == 33


@pytest.mark.parametrize(("seconds", "fps", "frames"), [(5, 16, 81), (4, 16, 65), (1, 8, 9), (0.5, 16, 9), (2.5, 24, 61)])
def test_seconds_round_up_to_a_valid_frame_count(seconds, fps, frames):
    assert resolve(seconds=seconds, fps=fps).num_frames == frames


def test_seconds_beyond_the_longest_video_name_the_field():
    with pytest.raises(RequestFieldError) as raised:
        resolve(seconds=10, fps=16)
    assert raised.value.param == "seconds" and "at most 81" in raised.value.message


def test_invalid_frame_count_names_the_field_and_the_nearest_valid_one():
    with pytest.raises(RequestFieldError) as raised:
        resolve(num_frames=80)
    assert raised.value.param == "num_frames"
    assert "4k+1 between 5 and 81 for Wan2.1-T2V-1.3B" in raised.value.message and "nearest: 81" in raised.value.message


def test_a_second_guidance_scale_is_refused_where_there_is_no_second_expert():
    with pytest.raises(RequestFieldError) as raised:
        resolve(guidance_scale_2=3.0)
    assert raised.value.param == "guidance_scale_2" and raised.value.code == "unsupported_value"
    a14b = lookup("Wan-AI/Wan2.2-T2V-A14B-Diffusers")
    assert a14b.resolve(GenerationKnobs(prompt="x", guidance_scale_2=2.5), "A14B").guidance_scale_2 == 2.5


def test_size_must_be_a_multiple_of_16():
    with pytest.raises(RequestFieldError) as raised:
        resolve(width=840, height=480)
    assert raised.value.param == "size" and "nearest: 832x480" in raised.value.message


def test_the_model_found_for_a_path():
    assert spec_for_model("Wan-AI/Wan2.1-T2V-14B-Diffusers").id == "Wan-AI/Wan2.1-T2V-14B-Diffusers"
    assert spec_for_model("wan2.1-t2v-14b").id == "Wan-AI/Wan2.1-T2V-14B-Diffusers"
    assert spec_for_model("/anything", spec_id="THUDM/CogVideoX-5b").matched_by == "--model-spec"
    with pytest.raises(UnknownModelError, match="not in the registry"):
        spec_for_model("someone/unknown-model")


def test_a_local_folder_is_recognised_by_its_spec_file_or_its_pipeline_class(tmp_path):
    named = tmp_path / "my-model"
    named.mkdir()
    (named / SPEC_FILE).write_text(json.dumps({"registry_id": "Lightricks/LTX-Video"}))
    assert spec_for_model(str(named)).id == "Lightricks/LTX-Video"

    by_class = tmp_path / "local-cogvideo"
    by_class.mkdir()
    (by_class / "model_index.json").write_text(json.dumps({"_class_name": "CogVideoXPipeline"}))
    spec = spec_for_model(str(by_class))
    assert (spec.id, spec.family, spec.pipeline_class) == ("local-cogvideo", "cogvideox", "CogVideoXPipeline")
    assert "model_index.json" in spec.matched_by

    unknown = tmp_path / "image-model"
    unknown.mkdir()
    (unknown / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionPipeline"}))
    with pytest.raises(UnknownModelError, match="StableDiffusionPipeline is not one framecast serves"):
        spec_for_model(str(unknown))


def test_the_tiny_model_is_ready_anywhere_and_real_models_need_a_gpu():
    assert support(lookup("tiny-random-t2v"), CPU_ONLY).level == "ready"
    assert support(WAN_1_3B, CPU_ONLY).level == "not supported"
    big_cpu = HardwareProfile(cpu_count=64, memory_gb=512, backends={"diffusers": True})
    assert support(WAN_1_3B, big_cpu).level == "limited"


def test_support_follows_gpu_memory_and_parallel_backends():
    wan14 = lookup("Wan-AI/Wan2.1-T2V-14B-Diffusers")
    h100 = Gpu("NVIDIA H100 80GB HBM3", 79.2)
    one_h100 = HardwareProfile(16, 128, (h100,), {"diffusers": True, "sglang": True})
    judged = support(wan14, one_h100)
    assert (judged.level, judged.parallel_degree) == ("ready", 1)
    small = Gpu("NVIDIA L4", 22.0)
    four_small = HardwareProfile(16, 128, (small,) * 4, {"diffusers": True, "sglang": True})
    # 4 x 22 GB holds the 14B DiT split four ways, but not its text encoder as well.
    assert support(wan14, four_small) == Support("limited", "fits 4 GPU(s) of 22 GB only with the text encoder offloaded to CPU", 4)
    # diffusers cannot split the model, so 4 small GPUs do not help it.
    assert support(wan14, four_small, backend="diffusers").level == "not supported"
    assert support(wan14, one_h100, backend="sglang").level == "ready"
    assert support(lookup("THUDM/CogVideoX-2b"), one_h100, backend="sglang").level == "not supported"


def test_image_to_video_models_are_ready_where_they_fit():
    h200 = HardwareProfile(16, 128, (Gpu("H200", 139.8),), {"diffusers": True, "sglang": True})
    for model in ("Wan-AI/Wan2.1-I2V-14B-480P-Diffusers", "Wan-AI/Wan2.1-I2V-14B-720P-Diffusers", "Wan-AI/Wan2.2-I2V-A14B-Diffusers"):
        spec = lookup(model)
        assert (spec.takes_image, spec.needs_image) == (True, True)
        assert support(spec, h200).level == "ready", model
    ti2v = lookup("Wan-AI/Wan2.2-TI2V-5B-Diffusers")
    assert (ti2v.takes_image, ti2v.needs_image) == (True, False)
    assert not WAN_1_3B.takes_image


def test_auto_backend_prefers_sglang_on_a_gpu():
    gpu = HardwareProfile(16, 128, (Gpu("H100", 79.2),), {"diffusers": True, "sglang": True})
    assert choose_backend(WAN_1_3B, gpu) == "sglang"
    assert choose_backend(WAN_1_3B, CPU_ONLY) == "diffusers"
    assert choose_backend(lookup("Lightricks/LTX-Video"), gpu) == "diffusers"


def test_launch_plan_takes_the_registry_tp_on_a_backend_that_can_split_the_model():
    two_gpus = HardwareProfile(16, 128, (Gpu("H100", 79.2),) * 2, {"diffusers": True, "sglang": True})
    plan = launch_plan(lookup("Wan-AI/Wan2.1-T2V-14B-Diffusers"), two_gpus)
    assert (plan["backend"], plan["tp"], plan["support"], plan["notes"]) == ("sglang", 2, "ready", [])
    plan = launch_plan(lookup("Wan-AI/Wan2.1-T2V-14B-Diffusers"), two_gpus, backend="diffusers")
    assert plan["tp"] == 1 and "no tensor parallelism" in plan["notes"][0]
    plan = launch_plan(WAN_1_3B, two_gpus, tp=4)
    assert plan["tp"] == 4 and plan["notes"] == ["TP 4 needs 4 GPUs; 2 found"]


def test_every_entry_has_unique_names_and_memory_per_degree():
    names = [name.lower() for spec in REGISTRY for name in spec.names]
    assert len(names) == len(set(names))
    for spec in REGISTRY:
        memory = spec.gpu_memory_gb()
        if spec.footprint is not None:
            assert list(memory) == [1, 2, 4, 8] and memory[1] > memory[2] > memory[8] > 0
