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
    tiny: dict[str, list[str]] = {}
    for spec in REGISTRY:
        if spec.stands_for:
            tiny.setdefault(spec.stands_for, []).append(spec.id)
    families: dict[str, list] = {}
    for spec in REGISTRY:
        if not spec.stands_for:
            families.setdefault(spec.family, []).append(spec)
    for family, specs in families.items():
        stand_ins = tiny.get(family)
        note = f"tiny models in the tests: {', '.join(stand_ins)}" if stand_ins else "no tiny model yet"
        print(f"\n{family} ({note if specs[0].footprint else 'no model to load'})")
        for spec in specs:
            judged = support(spec, hardware)
            print(f"  {spec.id:54} {'/'.join(spec.tasks):12} {','.join(spec.backends):17} {judged.level:14} {judged.reason}")
    tiny_models = [spec for spec in REGISTRY if spec.stands_for]
    print("\ntiny random models (built offline: python -m framecast.components.tiny_model --kind KIND)")
    for spec in tiny_models:
        print(f"  {spec.id:54} {'/'.join(spec.tasks):12} {','.join(spec.backends):17} stands for {spec.stands_for}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
