#!/usr/bin/env bash
# Serve a text-to-image model: the frontend and one worker, in the foreground until Ctrl-C.
#
#   bash launch/t2i.sh --model flux-schnell|flux-dev|qwen-image|sd3.5-large [options]
#
#   --model flux-schnell   black-forest-labs/FLUX.1-schnell (4 steps)
#   --model flux-dev       black-forest-labs/FLUX.1-dev
#   --model qwen-image     Qwen/Qwen-Image
#   --model sd3.5-large    stabilityai/stable-diffusion-3.5-large
#   --model-path PATH|ID   serve this local copy (or hub id) of the chosen model instead
#   --tp N                 tensor-parallel degree (default from the registry, where the backend can split a model)
#   --backend NAME         auto (default: sglang when installed and a GPU is present), sglang or diffusers
#   --discovery etcd|file  etcd: uses $ETCD_ENDPOINTS, or starts a local etcd; file: one machine (default)
#   --fs-url URL           where images are written, any fsspec URL (default: file://$PWD/outputs)
#   --input-store URL      where input images are kept for the worker (default: file://$PWD/inputs)
#   --port N               frontend port (default: 8000)
#   --host ADDR            frontend address (default: 127.0.0.1)
#   --dry-run              print the commands instead of running them
set -euo pipefail
cd "$(dirname "$0")/.."
source launch/lib.sh

framecast_model_for() {
  case "$1" in
    flux-schnell) echo black-forest-labs/FLUX.1-schnell ;;
    flux-dev) echo black-forest-labs/FLUX.1-dev ;;
    qwen-image) echo Qwen/Qwen-Image ;;
    sd3.5-large) echo stabilityai/stable-diffusion-3.5-large ;;
    --choices) echo "flux-schnell flux-dev qwen-image sd3.5-large"; return 1 ;;
    *) return 1 ;;
  esac
}

framecast_example() {
  echo "curl -X POST $1/v1/images/generations -H 'content-type: application/json' \\
  -d '{\"model\": \"$2\", \"prompt\": \"a lighthouse in a storm\", \"n\": 2, \"size\": \"1024x1024\", \"seed\": 1}'"
}

framecast_serve launch/t2i.sh --model "$@"
