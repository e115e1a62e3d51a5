#!/usr/bin/env bash
# Install framecast into .venv (Python 3.11): the frontend and the worker with its diffusers
# backend; with --sglang the sglang backend too; with --tests also the test tools, NVIDIA
# Dynamo's own frontend, an etcd server (Debian's etcd-server) and headless Chromium (Debian's chromium).
#
#   bash launch/install.sh            # to run framecast
#   bash launch/install.sh --sglang   # with the sglang backend (SGLang's DiffGenerator), CPU set
#   bash launch/install.sh --sglang-gpu   # with sglang and its CUDA kernels, for GPU machines
#   bash launch/install.sh --tests    # to run its tests too (includes --sglang)
set -euo pipefail
cd "$(dirname "$0")/.."

with_tests=0
with_sglang=0
for arg in "$@"; do
  case "$arg" in
    --tests) with_tests=1 with_sglang=1 ;;
    --sglang) with_sglang=1 ;;
    --sglang-gpu) with_sglang=2 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown option $arg" >&2; exit 2 ;;
  esac
done

python=${PYTHON:-}
if [[ -z "$python" ]]; then
  python=$(command -v python3.11 || command -v python3)
fi
if [[ ! -x .venv/bin/python ]]; then
  echo "creating .venv with $("$python" --version)"
  "$python" -m venv .venv
fi

extras="frontend,worker,s3,cli"
if (( with_tests )); then extras="$extras,test"; fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[$extras]"
if (( with_sglang == 2 )); then
  # The full package: CUDA kernels (sglang-kernel, flashinfer, ...), several GB.
  .venv/bin/python -m pip install --quiet --disable-pip-version-check "sglang[diffusion]==0.5.23"
elif (( with_sglang )); then
  # sglang's own dependency list pulls CUDA kernels; install it bare, then what it needs.
  .venv/bin/python -m pip install --quiet --disable-pip-version-check torchvision==0.29.1
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps sglang==0.5.23
  # pip then lists sglang's GPU-only dependencies as missing: expected, and not shown.
  if ! log=$(.venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements/sglang-0.5.23.txt 2>&1); then
    echo "$log" >&2
    exit 1
  fi
  grep -v -E "^sglang 0\.5\.23 requires |dependency resolver does not currently" <<<"$log" || true
fi
if (( with_tests )); then
  # NVIDIA Dynamo's own frontend, to check framecast workers behind it.
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps ai-dynamo==1.6.1
fi

# The tests start a real etcd, and drive the playground page in Debian's headless Chromium.
missing=()
if (( with_tests )); then
  command -v etcd >/dev/null || missing+=(etcd-server)
  command -v chromium >/dev/null || missing+=(chromium)
fi
if (( ${#missing[@]} )); then
  sudo=""
  if (( EUID != 0 )); then sudo="sudo"; fi
  echo "installing ${missing[*]}"
  $sudo apt-get install -y -qq "${missing[@]}" >/dev/null \
    || { $sudo apt-get update -qq && $sudo apt-get install -y -qq "${missing[@]}" >/dev/null; }
fi
echo "framecast installed in .venv"
