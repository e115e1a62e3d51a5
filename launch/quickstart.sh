#!/usr/bin/env bash
# framecast quickstart, on one machine with no GPU and no etcd (file discovery):
# builds the tiny random Wan2.1 model if absent, starts a worker and the frontend, sends one
# request, writes out.mp4, and stops what it started. Install first: bash launch/install.sh
# With --serve it also starts workers of the tiny image-to-video and text-to-image models, behind
# the same frontend, and keeps serving afterwards (until Ctrl-C): open the playground page, or
# run `framecast generate` or `framecast image`, against it.
#
#   bash launch/quickstart.sh [--port N] [--output out.mp4] [--work-dir .quickstart] [--model-dir models/tiny-random-t2v] [--serve]
set -euo pipefail
cd "$(dirname "$0")/.."
source launch/lib.sh

port=""
output=out.mp4
work=.quickstart
model_dir=models/tiny-random-t2v
serve=0
while (( $# )); do
  case "$1" in
    --port) port=$2; shift 2 ;;
    --output) output=$2; shift 2 ;;
    --work-dir) work=$2; shift 2 ;;
    --model-dir) model_dir=$2; shift 2 ;;
    --serve) serve=1; shift ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "quickstart.sh: unknown option $1" >&2; exit 2 ;;
  esac
done

PY=$(framecast_python)
model=$(basename "$model_dir")
rm -rf "$work/kv"
mkdir -p "$work"
work=$(cd "$work" && pwd)
port=${port:-$(framecast_free_port)}
url="http://127.0.0.1:$port"

if [[ ! -f "$model_dir/model_index.json" ]]; then
  echo "building the tiny random model in $model_dir"
  "$PY" -m framecast.components.tiny_model "$model_dir" >"$work/build-model.log" 2>&1
fi
# Served beside it with --serve: the other kinds, built next to it.
more_models=()
if (( serve )); then
  for kind in i2v t2i; do
    path=$(dirname "$model_dir")/tiny-random-$kind
    if [[ ! -f "$path/model_index.json" ]]; then
      echo "building the tiny random $kind model in $path"
      "$PY" -m framecast.components.tiny_model "$path" --kind "$kind" >"$work/build-$kind.log" 2>&1
    fi
    more_models+=("$path")
  done
fi

export DYN_DISCOVERY_BACKEND=file DYN_FILE_KV="$work/kv"
framecast_loopback_planes
trap framecast_stop_all EXIT
framecast_start worker "$work/worker.log" \
  "$PY" -m framecast.components.worker --model-path "$model_dir" --fs-url "file://$work/outputs" --discovery file \
  --input-store "file://$work/inputs"
for path in "${more_models[@]}"; do
  framecast_start "worker $(basename "$path")" "$work/worker-$(basename "$path").log" \
    "$PY" -m framecast.components.worker --model-path "$path" --fs-url "file://$work/outputs" --discovery file \
    --input-store "file://$work/inputs"
done
framecast_start frontend "$work/frontend.log" "$PY" -m framecast.frontend --port "$port" --discovery file --job-db "$work/jobs.sqlite3" \
  --input-store "file://$work/inputs"
echo "waiting for the worker to register (loading torch takes a few seconds)"
framecast_wait_for_model "$url" "$model" 300

request='{"model": "'"$model"'", "prompt": "a red fox running through fresh snow", "size": "64x64", "num_frames": 17, "fps": 8, "num_inference_steps": 8, "seed": 42, "response_format": "b64_json"}'
echo "the request (the same with curl: curl -X POST $url/v1/videos/generations -H 'content-type: application/json' -d '$request'):"
"$PY" - "$url" "$request" "$output" <<'PYEOF'
import base64, io, json, sys, urllib.error, urllib.request
import av
url, body, output = sys.argv[1:]
request = urllib.request.Request(url + "/v1/videos/generations", data=body.encode(), headers={"content-type": "application/json"})
try:
    response = json.load(urllib.request.urlopen(request, timeout=600))
except urllib.error.HTTPError as error:
    sys.exit(f"request failed with {error.code}: {error.read().decode()}")
data = base64.b64decode(response["data"][0]["b64_json"])
with open(output, "wb") as file:
    file.write(data)
with av.open(io.BytesIO(data)) as container:
    stream = container.streams.video[0]
    frames = sum(1 for _ in container.decode(stream))
    print(f"{response['id']}: {frames} frames, {stream.width}x{stream.height} at {stream.average_rate} fps, "
          f"{stream.codec_context.name}, generated in {response['inference_time_s']}s")
PYEOF
echo "wrote $(cd "$(dirname "$output")" && pwd)/$(basename "$output") (random weights: the picture is noise)"
if (( serve )); then
  for path in "${more_models[@]}"; do
    framecast_wait_for_model "$url" "$(basename "$path")" 300
  done
  echo "serving $model, ${more_models[*]##*/} on $url until Ctrl-C:"
  echo "  the playground page: open $url/ in a browser"
  echo "  the command line:    .venv/bin/framecast generate \"a red fox in snow\" --frames 17 -o fox.mp4 --url $url"
  echo "                       .venv/bin/framecast image \"a lighthouse\" --model tiny-random-t2i -o lighthouse.png --url $url"
  framecast_run_until_exit "$work"
fi
