"""framecast's CPU benchmarks, each peer comparison run side by side in the same run; prints one
table (median, p99, ratio, target).

    .venv/bin/python benchmarks/run.py                    # all of a-j (about 17 minutes on 2 cores)
    .venv/bin/python benchmarks/run.py --only a,c         # some
    .venv/bin/python benchmarks/run.py --quick            # fewer requests and repeats: a smoke run
    .venv/bin/python benchmarks/run.py --write-results    # also put the table in benchmarks/RESULTS.md

a serving overhead vs NVIDIA Dynamo's Rust frontend and the bare worker   b pipelining
c MP4 encoding vs the ffmpeg command line   d scaling over workers   e a 64 MB payload
f 10,000 queued jobs   g step caches   h LoRA adapter switching   i adapter-aware routing
j fair share between tenants vs arrival order
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import re
import sys
import tempfile
import time
from pathlib import Path

import psutil

# Run as a script: its own folder is first on sys.path, so the benchmarks import by name.
import efficiency
import encoding
import fairness
import job_load
import payload
import pipelining
import scaling
import serving
from harness import ROOT, Row, render

RESULTS = ROOT / "benchmarks" / "RESULTS.md"


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    with open("/proc/cpuinfo") as info:
        names = re.findall(r"model name\s*:\s*(.+)", info.read())
    if names:
        cpu = names[0].strip()
    memory = psutil.virtual_memory().total / 2**30
    return f"{os.cpu_count()} cores ({cpu}), {memory:.0f} GiB memory, {platform.system()}, Python {platform.python_version()}"


def benchmarks(quick: bool) -> dict:
    return {
        "a": lambda work: serving.run(work, requests=60 if quick else 300),
        "b": lambda work: pipelining.run(work, jobs=4 if quick else 12),
        "c": lambda work: encoding.run(work, presets=("ultrafast",) if quick else ("ultrafast", "medium"), repeats=1 if quick else 3),
        "d": lambda work: scaling.run(work, worker_counts=(1, 2) if quick else (1, 2, 4, 8), rounds=4 if quick else 16),
        "e": payload.run,
        "f": lambda work: job_load.run(work, jobs=500 if quick else 10_000, reads=200 if quick else 2000),
        "g": lambda work: efficiency.step_caches(work, repeats=1 if quick else 3),
        "h": lambda work: efficiency.adapter_switching(work, repeats=2 if quick else 5),
        "i": lambda work: efficiency.affinity(work, jobs=24 if quick else 60),
        "j": lambda work: fairness.run(work, jobs=20 if quick else 100, service_s=0.05 if quick else 0.2, repeats=1 if quick else 3),
    }


def write_results(table: str, command: str, elapsed_s: float, letters: str) -> None:
    """The table into RESULTS.md, replacing the last run of the same benchmarks (a run of some
    of them has a section of its own, so it never replaces the whole table)."""
    tag = "cpu-benchmarks" if letters == "abcdefghij" else f"cpu-benchmarks-{letters}"
    begin, end = f"<!-- {tag}:begin -->", f"<!-- {tag}:end -->"
    section = "\n".join([
        begin,
        f"Run {datetime.date.today().isoformat()} on {machine()}; {elapsed_s / 60:.1f} minutes.",
        "",
        "```",
        command,
        "```",
        "",
        table,
        end,
    ])  # fmt: skip
    text = RESULTS.read_text()
    if begin in text:
        text = re.sub(re.escape(begin) + ".*?" + re.escape(end), lambda _: section, text, flags=re.S)
    else:
        text = text.rstrip() + f"\n\n## CPU benchmarks {', '.join(letters)}\n\n" + section + "\n"
    RESULTS.write_text(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default="a,b,c,d,e,f,g,h,i,j", help="comma-separated letters of the benchmarks to run")
    parser.add_argument("--quick", action="store_true", help="fewer requests, jobs and repeats (a smoke run)")
    parser.add_argument("--write-results", action="store_true", help=f"write the table into {RESULTS.relative_to(ROOT)}")
    args = parser.parse_args(argv)
    chosen = [letter.strip() for letter in args.only.split(",") if letter.strip()]
    suite = benchmarks(args.quick)
    unknown = [letter for letter in chosen if letter not in suite]
    if unknown:
        parser.error(f"--only: unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(suite)}")
    print(machine(), flush=True)
    rows: list[Row] = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="framecast-bench-") as workdir:
        for letter in chosen:
            print(f"running {letter} ...", flush=True)
            try:
                rows += suite[letter](Path(workdir) / letter)
            except Exception as error:  # one broken benchmark must not hide the others' numbers
                rows.append(Row(letter, f"FAILED: {error}".splitlines()[0][:160], met=False))
            print(render([row for row in rows if row.bench == letter]), flush=True)
    elapsed = time.monotonic() - started
    print()
    print(render(rows))
    if args.write_results:
        command = "python benchmarks/run.py" + "".join(f" {arg}" for arg in (argv if argv is not None else sys.argv[1:]))
        write_results(render(rows, markdown=True), command, elapsed, "".join(sorted(chosen)))
        print(f"written to {RESULTS}")
    return 1 if any(row.bench and row.case.startswith("FAILED") for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
