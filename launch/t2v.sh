#!/usr/bin/env bash
# Serve Wan2.1 text-to-video: the frontend and one worker, in the foreground until Ctrl-C.
#
#   bash launch/t2v.sh --wan-size 1b|14b [options]
#
#   --wan-size 1b|14b      Wan-AI/Wan2.1-T2V-1.3B-Diffusers or Wan-AI/Wan2.1-T2V-14B-Diffusers
#   --model-path PATH|ID   serve this local copy (or hub id) of the chosen model instead
#   --tp N                 tensor-parallel degree (default from the registry: 1 for 1b, 2 for 14b,
#                          where the backend can split a model)
#   --backend NAME         auto (default: sglang when installed and a GPU is present), sglang or diffusers
#   --discovery etcd|file  etcd: uses $ETCD_ENDPOINTS, or starts a local etcd; file: one machine (default)
#   --fs-url URL           where videos are written, any fsspec URL (default: file://$PWD/outputs)
#   --input-store URL      where input images are kept for the worker (default: file://$PWD/inputs)
#   --port N               frontend port (default: 8000)
#   --host ADDR            frontend address (default: 127.0.0.1)
#   --dry-run              print the commands instead of running them
set -euo pipefail
cd "$(dirname "$0")/.."
source launch/lib.sh

framecast_model_for() {
  case "$1" in
    1b) echo Wan-AI/Wan2.1-T2V-1.3B-Diffusers ;;
    14b) echo Wan-AI/Wan2.1-T2V-14B-Diffusers ;;
    --choices) echo "1b 14b"; return 1 ;;
    *) return 1 ;;
  esac
}

framecast_example() {
  echo "curl -X POST $1/v1/videos/generations -H 'content-type: application/json' \\
  -d '{\"model\": \"$2\", \"prompt\": \"a corgi surfing a wave at sunset\", \"seed\": 1}'"
}

framecast_serve launch/t2v.sh --wan-size "$@"
