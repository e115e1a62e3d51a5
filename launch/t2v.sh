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
#   --port N               frontend port (default: 8000)
#   --host ADDR            frontend address (default: 127.0.0.1)
#   --dry-run              print the commands instead of running them
set -euo pipefail
cd "$(dirname "$0")/.."
source launch/lib.sh

wan_size="" model_path="" tp="" backend=auto discovery=file fs_url="" port=8000 host=127.0.0.1 dry_run=0
while (( $# )); do
  case "$1" in
    --wan-size) wan_size=$2; shift 2 ;;
    --model-path) model_path=$2; shift 2 ;;
    --tp) tp=$2; shift 2 ;;
    --backend) backend=$2; shift 2 ;;
    --discovery) discovery=$2; shift 2 ;;
    --fs-url) fs_url=$2; shift 2 ;;
    --port) port=$2; shift 2 ;;
    --host) host=$2; shift 2 ;;
    --dry-run) dry_run=1; shift ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "t2v.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

case "$wan_size" in
  1b) default_model=Wan-AI/Wan2.1-T2V-1.3B-Diffusers ;;
  14b) default_model=Wan-AI/Wan2.1-T2V-14B-Diffusers ;;
  *) echo "t2v.sh: --wan-size must be 1b or 14b" >&2; exit 2 ;;
esac
case "$discovery" in
  etcd|file) ;;
  *) echo "t2v.sh: --discovery must be etcd or file" >&2; exit 2 ;;
esac
model_path=${model_path:-$default_model}
fs_url=${fs_url:-file://$PWD/outputs}
PY=$(framecast_python)

# The registry decides the backend and TP from what is installed and what hardware is here.
plan_args=(--plan "$default_model" --backend "$backend")
[[ -n "$tp" ]] && plan_args+=(--tp "$tp")
plan=$("$PY" -m framecast.components.registry "${plan_args[@]}") || { echo "t2v.sh: no launch plan for $model_path" >&2; exit 1; }
eval "$plan"
backend=$plan_backend tp=$plan_tp
echo "backend: $backend, TP $tp ($default_model is $plan_support here: $plan_reason)"
[[ -n "$plan_notes" ]] && echo "note: $plan_notes"
work=.t2v
# A local copy keeps the name and the registry entry of the model it is a copy of.
model=$default_model
worker_cmd=("$PY" -m framecast.components.worker --model-path "$model_path" --backend "$backend" --tp "$tp"
  --fs-url "$fs_url" --discovery "$discovery")
if [[ "$model_path" != "$default_model" ]]; then
  worker_cmd+=(--model-spec "$default_model" --served-model-name "$default_model")
fi
frontend_cmd=("$PY" -m framecast.frontend --host "$host" --port "$port" --discovery "$discovery")
# Job records: in etcd beside discovery (any replica answers), or a SQLite file on one machine.
if [[ "$discovery" == etcd ]]; then
  frontend_cmd+=(--job-store etcd)
else
  frontend_cmd+=(--job-db "$work/jobs.sqlite3")
fi
etcd_cmd=(etcd --name framecast --data-dir "$work/etcd" --listen-client-urls http://127.0.0.1:2379
  --advertise-client-urls http://127.0.0.1:2379 --listen-peer-urls http://127.0.0.1:2380
  --initial-advertise-peer-urls http://127.0.0.1:2380 --initial-cluster framecast=http://127.0.0.1:2380
  --auto-compaction-retention 1)
start_etcd=0
if [[ "$discovery" == etcd && -z "${ETCD_ENDPOINTS:-}" ]]; then
  start_etcd=1
  export ETCD_ENDPOINTS=http://127.0.0.1:2379
fi
curl_cmd="curl -X POST http://$host:$port/v1/videos/generations -H 'content-type: application/json' \\
  -d '{\"model\": \"$model\", \"prompt\": \"a corgi surfing a wave at sunset\", \"seed\": 1}'"

if (( dry_run )); then
  (( start_etcd )) && echo "etcd: ${etcd_cmd[*]}"
  echo "worker: ${worker_cmd[*]}"
  echo "frontend: ${frontend_cmd[*]}"
  echo "try: $curl_cmd"
  exit 0
fi

mkdir -p "$work"
framecast_loopback_planes
export DYN_DISCOVERY_BACKEND=$discovery
[[ "$discovery" == file ]] && export DYN_FILE_KV=${DYN_FILE_KV:-$PWD/$work/kv}
trap framecast_stop_all EXIT
if (( start_etcd )); then
  command -v etcd >/dev/null || { echo "etcd is not installed: apt-get install etcd-server" >&2; exit 1; }
  framecast_start etcd "$work/etcd.log" "${etcd_cmd[@]}"
fi
framecast_start worker "$work/worker.log" "${worker_cmd[@]}"
framecast_start frontend "$work/frontend.log" "${frontend_cmd[@]}"
echo "waiting for $model (the first start downloads its weights)"
framecast_wait_for_model "http://$host:$port" "$model" 3600
echo "serving $model on http://$host:$port (TP $tp, backend $backend, $discovery discovery); try:"
echo "$curl_cmd"
echo "Ctrl-C stops it."
while true; do
  for pid in "${FRAMECAST_PIDS[@]}"; do
    kill -0 "$pid" 2>/dev/null || { echo "a process exited; see the logs in $work/" >&2; exit 1; }
  done
  sleep 2
done
