#!/usr/bin/env bash
# Serve several models behind one frontend: etcd (unless --etcd-endpoints is given), one worker
# per model and one frontend routing by `model`, in the foreground until Ctrl-C.
#
#   bash launch/serve.sh --model wan-1b --model flux-schnell [--model i2v-480p] [options]
#
#   --model NAME           repeatable; one of wan-1b wan-14b t2v-a14b i2v-480p i2v-720p i2v-a14b
#                          ti2v-5b flux-schnell flux-dev qwen-image sd3.5-large, the tiny random models
#                          tiny-t2v tiny-i2v tiny-ti2v tiny-t2i (built offline into models/ when absent),
#                          or any registry id, alias or local model folder
#   --backend NAME         auto (default: sglang when installed and a GPU is present), sglang or diffusers
#   --etcd-endpoints URLS  use this etcd instead of starting one
#   --etcd-port N          port of the etcd this script starts (default 2379; peers on N+1)
#   --fs-url URL           where outputs are written, any fsspec URL (default: file://$PWD/outputs)
#   --input-store URL      where the frontend keeps input images for the workers (default: file://$PWD/inputs)
#   --namespace NAME       Dynamo namespace of the workers and the frontend (default: framecast)
#   --port N               frontend port (default: 8000)
#   --host ADDR            frontend address (default: 127.0.0.1)
#   --work-dir DIR         logs and etcd data (default: .serve)
#   --dry-run              print the plan and the commands instead of running them
#
# Each worker gets the registry's tensor-parallel degree for its model and that many GPUs: slices
# of $CUDA_VISIBLE_DEVICES (or of every GPU nvidia-smi lists), in the order the models are given.
# With no GPU, every worker runs on the CPU. The plan is printed before anything starts.
set -euo pipefail
cd "$(dirname "$0")/.."
source launch/lib.sh

# NAME -> registry id, or "tiny:KIND" for a tiny random model; anything else is passed on as it is.
model_for() {
  case "$1" in
    wan-1b) echo Wan-AI/Wan2.1-T2V-1.3B-Diffusers ;;
    wan-14b) echo Wan-AI/Wan2.1-T2V-14B-Diffusers ;;
    t2v-a14b) echo Wan-AI/Wan2.2-T2V-A14B-Diffusers ;;
    i2v-480p) echo Wan-AI/Wan2.1-I2V-14B-480P-Diffusers ;;
    i2v-720p) echo Wan-AI/Wan2.1-I2V-14B-720P-Diffusers ;;
    i2v-a14b) echo Wan-AI/Wan2.2-I2V-A14B-Diffusers ;;
    ti2v-5b) echo Wan-AI/Wan2.2-TI2V-5B-Diffusers ;;
    flux-schnell) echo black-forest-labs/FLUX.1-schnell ;;
    flux-dev) echo black-forest-labs/FLUX.1-dev ;;
    qwen-image) echo Qwen/Qwen-Image ;;
    sd3.5-large) echo stabilityai/stable-diffusion-3.5-large ;;
    tiny-t2v|tiny-i2v|tiny-ti2v|tiny-t2i) echo "tiny:${1#tiny-}" ;;
    *) echo "$1" ;;
  esac
}

names=() backend=auto etcd_endpoints="${ETCD_ENDPOINTS:-}" etcd_port=2379 fs_url="" input_store="" namespace=framecast
port=8000 host=127.0.0.1 work=.serve dry_run=0
while (( $# )); do
  case "$1" in
    --model) names+=("$2"); shift 2 ;;
    --backend) backend=$2; shift 2 ;;
    --etcd-endpoints) etcd_endpoints=$2; shift 2 ;;
    --etcd-port) etcd_port=$2; shift 2 ;;
    --fs-url) fs_url=$2; shift 2 ;;
    --input-store) input_store=$2; shift 2 ;;
    --namespace) namespace=$2; shift 2 ;;
    --port) port=$2; shift 2 ;;
    --host) host=$2; shift 2 ;;
    --work-dir) work=$2; shift 2 ;;
    --dry-run) dry_run=1; shift ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "serve.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
(( ${#names[@]} )) || { echo "serve.sh: name at least one --model (see --help)" >&2; exit 2; }
PY=$(framecast_python)
fs_url=${fs_url:-file://$PWD/outputs}
input_store=${input_store:-file://$PWD/inputs}

# The GPUs to hand out, in order.
gpus=()
if [[ -n "${CUDA_VISIBLE_DEVICES:-}" ]]; then
  IFS=, read -r -a gpus <<<"$CUDA_VISIBLE_DEVICES"
elif command -v nvidia-smi >/dev/null && listed=$(nvidia-smi --query-gpu=index --format=csv,noheader 2>/dev/null); then
  mapfile -t gpus <<<"$listed"
fi

start_etcd=0
if [[ -z "$etcd_endpoints" ]]; then
  start_etcd=1
  etcd_endpoints=http://127.0.0.1:$etcd_port
fi
discovery=(--discovery etcd --etcd-endpoints "$etcd_endpoints" --namespace "$namespace")

# The plan: for each model, its path, backend, TP and GPUs; and the command of its worker.
worker_cmds=() worker_envs=() worker_models=() tiny_builds=()
next_gpu=0
for name in "${names[@]}"; do
  target=$(model_for "$name")
  model_path=$target
  if [[ "$target" == tiny:* ]]; then
    kind=${target#tiny:}
    model_path=models/tiny-random-$kind
    [[ -f "$model_path/model_index.json" ]] || tiny_builds+=("$kind")
  fi
  plan_for=$model_path
  [[ "$target" == tiny:* ]] && plan_for=tiny-random-$kind
  if ! plan=$("$PY" -m framecast.components.registry --plan "$plan_for" --backend "$backend"); then
    echo "serve.sh: --model $name: no launch plan (see the registry: python -m framecast.components.registry)" >&2
    exit 2
  fi
  eval "$plan"
  devices=cpu
  if (( ${#gpus[@]} )) && [[ "$plan_backend" != synthetic ]]; then
    if (( next_gpu + plan_tp > ${#gpus[@]} )); then
      echo "serve.sh: --model $name needs $plan_tp GPU(s) and only $(( ${#gpus[@]} - next_gpu )) of ${#gpus[@]} are left" >&2
      exit 2
    fi
    devices=$(IFS=,; echo "${gpus[*]:next_gpu:plan_tp}")
    next_gpu=$((next_gpu + plan_tp))
  fi
  echo "plan: $name -> $model_path: backend $plan_backend, TP $plan_tp, GPUs $devices ($plan_support: $plan_reason)"
  [[ -n "$plan_notes" ]] && echo "  note: $plan_notes"
  worker_models+=("$model_path")
  worker_envs+=("$([[ "$devices" == cpu ]] && echo "" || echo "CUDA_VISIBLE_DEVICES=$devices")")
  command=$(printf '%q ' "$PY" -m framecast.components.worker --model-path "$model_path" --backend "$plan_backend" \
    --tp "$plan_tp" --fs-url "$fs_url" --input-store "$input_store" "${discovery[@]}")
  worker_cmds+=("${command% }")
done
frontend_cmd=("$PY" -m framecast.frontend --host "$host" --port "$port" "${discovery[@]}" --job-store etcd
  --input-store "$input_store")
framecast_etcd_command "$work" "$etcd_port"

if (( dry_run )); then
  (( start_etcd )) && echo "etcd: ${FRAMECAST_ETCD_CMD[*]}"
  for index in "${!worker_cmds[@]}"; do
    echo "worker ${names[index]}: ${worker_envs[index]:+${worker_envs[index]} }${worker_cmds[index]}"
  done
  echo "frontend: ${frontend_cmd[*]}"
  exit 0
fi

mkdir -p "$work"
framecast_loopback_planes
export DYN_DISCOVERY_BACKEND=etcd ETCD_ENDPOINTS=$etcd_endpoints
trap framecast_stop_all EXIT
for kind in "${tiny_builds[@]}"; do
  echo "building the tiny random $kind model in models/tiny-random-$kind"
  "$PY" -m framecast.components.tiny_model "models/tiny-random-$kind" --kind "$kind" >"$work/build-$kind.log" 2>&1
done
if (( start_etcd )); then
  command -v etcd >/dev/null || { echo "etcd is not installed: apt-get install etcd-server" >&2; exit 1; }
  framecast_start etcd "$work/etcd.log" "${FRAMECAST_ETCD_CMD[@]}"
fi
for index in "${!worker_cmds[@]}"; do
  # shellcheck disable=SC2086 # the command was quoted with printf %q
  eval "framecast_start 'worker ${names[index]}' '$work/worker-$index.log' env ${worker_envs[index]} ${worker_cmds[index]}"
done
framecast_start frontend "$work/frontend.log" "${frontend_cmd[@]}"
url="http://$host:$port"
for model_path in "${worker_models[@]}"; do
  model=$model_path
  [[ -d "$model_path" ]] && model=$(basename "$model_path")
  echo "waiting for $model (the first start downloads its weights)"
  framecast_wait_for_model "$url" "$model" 3600
done
echo "serving ${#names[@]} model(s) on $url ($namespace namespace, etcd $etcd_endpoints):"
"$PY" - "$url" <<'PYEOF'
import json, sys, urllib.request
for model in json.load(urllib.request.urlopen(sys.argv[1] + "/v1/models", timeout=10))["data"]:
    print(f"  {model['id']}: {'/'.join(model.get('tasks') or [])}, {model['workers']} worker(s)")
PYEOF
echo "the playground page: $url/ ; the models: $url/v1/models ; the whole registry: $url/v1/catalog"
echo "Ctrl-C stops it."
framecast_run_until_exit "$work"
