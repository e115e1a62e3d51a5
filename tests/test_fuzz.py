"""Property-based fuzzing of the frontend's OpenAPI schema with schemathesis: hundreds of
generated requests (valid and invalid) against a real stack, and not one 5xx or hang.

The same command runs by hand (see README): schemathesis run http://HOST:PORT/openapi.json
--checks not_a_server_error --max-examples 60 --request-timeout 60
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from framecast.testing.stack import Discovery, stack_env, start_frontend, start_worker, wait_for_workers

MODEL = "tiny-random-t2v"
MIN_REQUESTS = 500


def test_schemathesis_finds_no_server_error_in_500_generated_requests(tiny_model, tmp_path):
    discovery = Discovery("file", stack_env("file", None, tmp_path / "kv"))
    worker = start_worker(
        discovery, tiny_model, "fc-fuzz", (tmp_path / "out").as_uri(), tmp_path, "worker", "--video-preset", "ultrafast"
    )
    # Deployment limits keep every request the fuzzer gets admitted small enough to finish fast.
    frontend, base_url = start_frontend(
        discovery, "fc-fuzz", tmp_path, "frontend", "--max-steps", "2", "--max-frames", "9", "--max-pixels", "4096"
    )
    try:
        wait_for_workers(base_url, MODEL, 1, processes=[worker, frontend])
        result = subprocess.run(
            [str(Path(sys.executable).parent / "schemathesis"), "run", f"{base_url}/openapi.json",
             "--checks", "not_a_server_error", "--max-examples", "60", "--request-timeout", "60", "--no-color"],
            capture_output=True, text=True, timeout=900, cwd=tmp_path,  # its cache lands there, not in the checkout
        )  # fmt: skip
        summary = result.stdout[-3000:]
        assert result.returncode == 0, summary + frontend.tail()
        generated = int(re.search(r"(\d+) generated", result.stdout).group(1))
        assert generated >= MIN_REQUESTS, summary
        assert re.search(rf"{generated} generated, {generated} passed", result.stdout), summary
        assert " 500 " not in frontend.log_text() and "Traceback" not in frontend.log_text()
        print(f"schemathesis: {generated} generated requests, all answered without a server error")
    finally:
        frontend.stop()
        worker.stop()
