# Shared by the launch scripts: the processes they start, and how they wait for them.
# shellcheck shell=bash

framecast_python() {
  if [[ -x .venv/bin/python ]]; then echo .venv/bin/python; else command -v python3; fi
}

# Keep the Dynamo request, response and event planes on loopback unless the caller chose.
framecast_loopback_planes() {
  export DYN_TCP_RPC_HOST=${DYN_TCP_RPC_HOST:-127.0.0.1}
  export DYN_TCP_RESPONSE_STREAM_HOST=${DYN_TCP_RESPONSE_STREAM_HOST:-127.0.0.1}
  export DYN_EVENT_PLANE_HOST=${DYN_EVENT_PLANE_HOST:-127.0.0.1}
}

framecast_free_port() {
  "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

FRAMECAST_PIDS=()

# framecast_start NAME LOGFILE CMD...: run CMD in the background, remember it for framecast_stop_all.
framecast_start() {
  local name=$1 log=$2
  shift 2
  "$@" >"$log" 2>&1 &
  FRAMECAST_PIDS+=("$!")
  echo "started $name (pid $!, log $log)"
}

# Stop what was started, newest first: SIGTERM, then SIGKILL after 30 s.
framecast_stop_all() {
  local index pid
  for ((index = ${#FRAMECAST_PIDS[@]} - 1; index >= 0; index--)); do
    pid=${FRAMECAST_PIDS[index]}
    kill -TERM "$pid" 2>/dev/null || continue
    for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  FRAMECAST_PIDS=()
}

# framecast_etcd_command WORKDIR CLIENT_PORT: a single-node etcd on loopback (peers on the next
# port), its data under WORKDIR, in the array FRAMECAST_ETCD_CMD.
framecast_etcd_command() {
  local work=$1 port=$2
  local client=http://127.0.0.1:$port peer=http://127.0.0.1:$((port + 1))
  FRAMECAST_ETCD_CMD=(etcd --name framecast --data-dir "$work/etcd" --listen-client-urls "$client"
    --advertise-client-urls "$client" --listen-peer-urls "$peer" --initial-advertise-peer-urls "$peer"
    --initial-cluster "framecast=$peer" --auto-compaction-retention 1)
}

# framecast_wait_for_model URL MODEL TIMEOUT_S: until the frontend lists MODEL with a live worker.
framecast_wait_for_model() {
  local url=$1 model=$2 timeout=$3 start=$SECONDS
  until "$PY" - "$url" "$model" <<'PYEOF' 2>/dev/null
import json, sys, urllib.request
models = json.load(urllib.request.urlopen(sys.argv[1] + "/v1/models", timeout=2))["data"]
sys.exit(0 if any(m["id"] == sys.argv[2] and m["workers"] > 0 for m in models) else 1)
PYEOF
  do
    for pid in "${FRAMECAST_PIDS[@]}"; do
      kill -0 "$pid" 2>/dev/null || { echo "a process exited before $model was served; see its log" >&2; return 1; }
    done
    if (( SECONDS - start > timeout )); then
      echo "$model was not served within ${timeout}s" >&2
      return 1
    fi
    sleep 0.5
  done
}

# framecast_run_until_exit WORKDIR: wait (until Ctrl-C) while every started process runs; exit 1
# when one stops.
framecast_run_until_exit() {
  while true; do
    for pid in "${FRAMECAST_PIDS[@]}"; do
      kill -0 "$pid" 2>/dev/null || { echo "a process exited; see the logs in $1/" >&2; exit 1; }
    done
    sleep 2
  done
}

# framecast_serve SCRIPT CHOICE_FLAG ARGS...: what t2v.sh, i2v.sh and t2i.sh share. Parses the
# options every one takes, asks the registry for a plan, and runs etcd (when needed), one worker
# and the frontend in the foreground until Ctrl-C. The script defines two functions first:
#   framecast_model_for CHOICE   prints the registry id for its CHOICE_FLAG's value, or fails
#   framecast_example URL MODEL  prints a request to try
framecast_serve() {
  local script=$1 choice_flag=$2
  shift 2
  local name choice="" model_path="" tp="" backend=auto discovery=file fs_url="" input_store="" port=8000
  local host=127.0.0.1 dry_run=0
  name=$(basename "$script")
  while (( $# )); do
    case "$1" in
      "$choice_flag") choice=$2; shift 2 ;;
      --model-path) model_path=$2; shift 2 ;;
      --tp) tp=$2; shift 2 ;;
      --backend) backend=$2; shift 2 ;;
      --discovery) discovery=$2; shift 2 ;;
      --fs-url) fs_url=$2; shift 2 ;;
      --input-store) input_store=$2; shift 2 ;;
      --port) port=$2; shift 2 ;;
      --host) host=$2; shift 2 ;;
      --dry-run) dry_run=1; shift ;;
      -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$script"; exit 0 ;;
      *) echo "$name: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
  done
  local default_model
  if ! default_model=$(framecast_model_for "$choice"); then
    echo "$name: $choice_flag must be one of: $(framecast_model_for --choices)" >&2
    exit 2
  fi
  case "$discovery" in
    etcd|file) ;;
    *) echo "$name: --discovery must be etcd or file" >&2; exit 2 ;;
  esac
  model_path=${model_path:-$default_model}
  fs_url=${fs_url:-file://$PWD/outputs}
  # Frontends store input images there and workers read them: both get the same one.
  input_store=${input_store:-file://$PWD/inputs}
  PY=$(framecast_python)

  # The registry decides the backend and TP from what is installed and what hardware is here.
  local plan_args=(--plan "$default_model" --backend "$backend")
  [[ -n "$tp" ]] && plan_args+=(--tp "$tp")
  local plan
  plan=$("$PY" -m framecast.components.registry "${plan_args[@]}") || { echo "$name: no launch plan for $model_path" >&2; exit 1; }
  eval "$plan"
  backend=$plan_backend tp=$plan_tp
  echo "backend: $backend, TP $tp ($default_model is $plan_support here: $plan_reason)"
  [[ -n "$plan_notes" ]] && echo "note: $plan_notes"
  local work=".${name%.sh}"
  # A local copy keeps the name and the registry entry of the model it is a copy of.
  local model=$default_model
  local worker_cmd=("$PY" -m framecast.components.worker --model-path "$model_path" --backend "$backend" --tp "$tp"
    --fs-url "$fs_url" --discovery "$discovery" --input-store "$input_store")
  if [[ "$model_path" != "$default_model" ]]; then
    worker_cmd+=(--model-spec "$default_model" --served-model-name "$default_model")
  fi
  local frontend_cmd=("$PY" -m framecast.frontend --host "$host" --port "$port" --discovery "$discovery"
    --input-store "$input_store")
  # Job records: in etcd beside discovery (any replica answers), or a SQLite file on one machine.
  if [[ "$discovery" == etcd ]]; then
    frontend_cmd+=(--job-store etcd)
  else
    frontend_cmd+=(--job-db "$work/jobs.sqlite3")
  fi
  local etcd_cmd
  framecast_etcd_command "$work" 2379
  etcd_cmd=("${FRAMECAST_ETCD_CMD[@]}")
  local start_etcd=0
  if [[ "$discovery" == etcd && -z "${ETCD_ENDPOINTS:-}" ]]; then
    start_etcd=1
    export ETCD_ENDPOINTS=http://127.0.0.1:2379
  fi
  local example
  example=$(framecast_example "http://$host:$port" "$model")

  if (( dry_run )); then
    (( start_etcd )) && echo "etcd: ${etcd_cmd[*]}"
    echo "worker: ${worker_cmd[*]}"
    echo "frontend: ${frontend_cmd[*]}"
    echo "try: $example"
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
  echo "$example"
  echo "Ctrl-C stops it."
  framecast_run_until_exit "$work"
}
