"""The registry's command line: every model and its support level on this machine, or the
launch plan for one model (what launch/t2v.sh asks).

    python -m framecast.components.registry
    python -m framecast.components.registry --plan Wan-AI/Wan2.1-T2V-1.3B-Diffusers
"""

from __future__ import annotations

import sys

from framecast.registry.models import REGISTRY
from framecast.components.registry.plan import UnknownModelError, launch_plan, spec_for_model, support


def main(argv: list[str] | None = None) -> int:
    import argparse

    from framecast.components.hardware import detect_hardware

    parser = argparse.ArgumentParser(prog="python -m framecast.components.registry", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--plan", metavar="MODEL", help="print the launch plan for MODEL as shell variables")
    parser.add_argument("--backend", default="auto", choices=["auto", "sglang", "diffusers"])
    parser.add_argument("--tp", type=int)
    args = parser.parse_args(argv)
    hardware = detect_hardware()
    if args.plan:
        try:
            spec = spec_for_model(args.plan)
        except UnknownModelError as error:
            print(error, file=sys.stderr)
            return 1
        plan = launch_plan(spec, hardware, args.backend, args.tp)
        import shlex

        print(f"plan_backend={plan['backend']} plan_tp={plan['tp']} plan_support={shlex.quote(plan['support'])}")
        print(f"plan_reason={shlex.quote(plan['reason'])} plan_notes={shlex.quote('; '.join(plan['notes']))}")
        return 0
    gpus = ", ".join(f"{gpu.name} {gpu.memory_gb:g} GB" for gpu in hardware.gpus) or "no GPU"
    print(f"this machine: {hardware.cpu_count} CPUs, {hardware.memory_gb:g} GB RAM, {gpus}; backends: "
          + ", ".join(name for name, present in hardware.backends.items() if present))  # fmt: skip
    for spec in REGISTRY:
        judged = support(spec, hardware)
        print(f"{spec.id:40} {'/'.join(spec.tasks):8} {judged.level:14} {judged.reason}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
