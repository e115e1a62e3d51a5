"""The scheduler fix of the diffusers backend, on the scheduler alone: with the config Wan
checkpoints ship (UniPC, flow sigmas, lower_order_final, final sigma zero, solver order 2),
diffusers 0.37's scheduler fails the last step of a long run (from about 1000 steps at flow
shift 1 down to 90 at 12); fixed, every step count up to the registry's 1000 completes, and a
run the stock scheduler could do gives the very same samples."""

from __future__ import annotations

import pytest
import torch
from diffusers import UniPCMultistepScheduler

from framecast.components.backends.schedulers import starting_at_the_first_timestep
from framecast.components.handler import unexplained
from framecast.protocol import Stage

# What Wan2.1's Diffusers checkpoints ship in scheduler/scheduler_config.json (and the tiny model).
WAN_SCHEDULER = {
    "beta_end": 0.02, "beta_schedule": "linear", "beta_start": 0.0001, "disable_corrector": [],
    "dynamic_thresholding_ratio": 0.995, "final_sigmas_type": "zero", "flow_shift": 3.0, "lower_order_final": True,
    "num_train_timesteps": 1000, "predict_x0": True, "prediction_type": "flow_prediction", "sample_max_value": 1.0,
    "solver_order": 2, "solver_type": "bh2", "steps_offset": 0, "thresholding": False, "timestep_spacing": "linspace",
    "use_flow_sigmas": True, "use_karras_sigmas": False,
}  # fmt: skip
MAX_STEPS = 1000


def denoise(scheduler, steps: int) -> torch.Tensor:
    """A whole run with a made-up model output: the final sample."""
    scheduler.set_timesteps(steps)
    sample = torch.randn(1, 16, generator=torch.Generator().manual_seed(0))
    for timestep in scheduler.timesteps:
        sample = scheduler.step(torch.sin(3 * sample + timestep / 100.0), timestep, sample).prev_sample
    return sample


@pytest.mark.parametrize("flow_shift", [1.0, 3.0, 5.0, 12.0])
def test_every_step_count_completes_at_every_shift(flow_shift):
    stock = UniPCMultistepScheduler.from_config(WAN_SCHEDULER, flow_shift=flow_shift)
    with pytest.raises(AssertionError):  # the defect, as diffusers has it
        denoise(stock, MAX_STEPS)
    fixed = starting_at_the_first_timestep(UniPCMultistepScheduler.from_config(WAN_SCHEDULER, flow_shift=flow_shift))
    assert isinstance(fixed, UniPCMultistepScheduler)
    for steps in (MAX_STEPS, MAX_STEPS - 1, 340, 90):
        assert torch.isfinite(denoise(fixed, steps)).all()
        assert fixed.step_index == steps  # every step ran, from the first


@pytest.mark.parametrize("flow_shift", [1.0, 3.0, 5.0, 12.0])
def test_a_run_the_stock_scheduler_could_do_is_unchanged(flow_shift):
    stock = UniPCMultistepScheduler.from_config(WAN_SCHEDULER, flow_shift=flow_shift)
    fixed = starting_at_the_first_timestep(UniPCMultistepScheduler.from_config(WAN_SCHEDULER, flow_shift=flow_shift))
    assert torch.equal(denoise(fixed, 50), denoise(stock, 50))


def test_a_run_begun_mid_schedule_still_starts_where_it_was_told():
    fixed = starting_at_the_first_timestep(UniPCMultistepScheduler.from_config(WAN_SCHEDULER))
    fixed.set_timesteps(20)
    fixed.set_begin_index(8)
    sample = torch.zeros(1, 4)
    fixed.step(torch.zeros_like(sample), fixed.timesteps[8], sample)
    assert fixed.step_index == 9


def test_an_exception_without_a_message_says_its_type_where_and_at_which_step():
    class UniPCMultistepScheduler:  # a stand-in raising where the real one did
        def step(self):
            raise AssertionError  # what the scheduler's bare assert raises (pytest rewrites a test's own asserts)

    try:
        UniPCMultistepScheduler().step()
    except AssertionError as error:
        raised = error
    assert str(raised) == ""
    described = unexplained(raised, Stage.DENOISING, 339, 340)
    assert described == f"AssertionError in {test_an_exception_without_a_message_says_its_type_where_and_at_which_step.__qualname__}.<locals>.UniPCMultistepScheduler.step at step 340 of 340"
    assert unexplained(raised, Stage.DECODING, 340, 340).endswith(" during decoding")
