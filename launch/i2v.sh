#!/usr/bin/env bash
# Serve Wan image-to-video: the frontend and one worker, in the foreground until Ctrl-C.
#
#   bash launch/i2v.sh --wan 480p|720p|a14b|ti2v-5b [options]
#
#   --wan 480p|720p        Wan-AI/Wan2.1-I2V-14B-480P-Diffusers or Wan-AI/Wan2.1-I2V-14B-720P-Diffusers
#   --wan a14b             Wan-AI/Wan2.2-I2V-A14B-Diffusers (two experts)
#   --wan ti2v-5b          Wan-AI/Wan2.2-TI2V-5B-Diffusers (text and image, or text alone)
#   --model-path PATH|ID   serve this local copy (or hub id) of the chosen model instead
#   --tp N                 tensor-parallel degree (default from the registry, where the backend can split a model)
#   --backend NAME         auto (default: sglang when installed and a GPU is present), sglang or diffusers
#   --discovery etcd|file  etcd: uses $ETCD_ENDPOINTS, or starts a local etcd; file: one machine (default)
#   --fs-url URL           where videos are written, any fsspec URL (default: file://$PWD/outputs)
#   --input-store URL      where the frontend keeps input images for the worker (default: file://$PWD/inputs);
#                          with workers on other machines, a store both reach (s3://...)
#   --port N               frontend port (default: 8000)
#   --host ADDR            frontend address (default: 127.0.0.1)
#   --dry-run              print the commands instead of running them
#
# Images arrive as an upload, a data: URL or an http(s) URL, which the frontend fetches itself
# from public addresses only ($FRAMECAST_FETCH_ALLOW names private ones it may use).
set -euo pipefail
cd "$(dirname "$0")/.."
source launch/lib.sh

framecast_model_for() {
  case "$1" in
    480p) echo Wan-AI/Wan2.1-I2V-14B-480P-Diffusers ;;
    720p) echo Wan-AI/Wan2.1-I2V-14B-720P-Diffusers ;;
    a14b) echo Wan-AI/Wan2.2-I2V-A14B-Diffusers ;;
    ti2v-5b) echo Wan-AI/Wan2.2-TI2V-5B-Diffusers ;;
    --choices) echo "480p 720p a14b ti2v-5b"; return 1 ;;
    *) return 1 ;;
  esac
}

framecast_example() {
  echo "curl -X POST $1/v1/videos/generations -F model=$2 -F 'prompt=the cat turns its head' \\
  -F seed=1 -F input_reference=@cat.png"
}

framecast_serve launch/i2v.sh --wan "$@"
