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
