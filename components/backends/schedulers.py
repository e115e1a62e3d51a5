"""A fix the diffusers backend applies to the scheduler of every pipeline it loads.

Multistep schedulers (UniPC, DPM-Solver, ...) find where a denoising loop starts from its first
timestep, and where that timestep appears twice they start at the second occurrence, as if an
image-to-image run began mid-schedule. With flow sigmas and a high shift or many steps, the
first timesteps round to the same integer (999, 999, ...), so a full run starts one step late:
every step uses the next sigma, and with `lower_order_final` the last step has order 0 and
fails `assert self.this_order > 0` (diffusers 0.37 with the config Wan checkpoints ship, from
about 340 steps at shift 3, 90 at shift 12). A loop whose first call is at the schedule's first
timestep starts at index 0 here; a run that sets a begin index (strength) is left as it was.
"""

from __future__ import annotations

import torch


class _StartsAtTheFirstTimestep:
    def _init_step_index(self, timestep) -> None:
        first = self.timesteps[0]
        at_first = timestep.to(first.device) == first if isinstance(timestep, torch.Tensor) else timestep == first
        if self.begin_index is None and bool(at_first):
            self._step_index = 0
            return
        super()._init_step_index(timestep)


def starting_at_the_first_timestep(scheduler):
    """The scheduler, of a subclass that starts a full run at its first step; a scheduler that
    does not look its start up this way is returned as it is."""
    kind = type(scheduler)
    if isinstance(scheduler, _StartsAtTheFirstTimestep) or not hasattr(kind, "_init_step_index"):
        return scheduler
    fixed = type(kind.__name__, (_StartsAtTheFirstTimestep, kind), {"__doc__": kind.__doc__, "__module__": __name__})
    return fixed.from_config(scheduler.config)
