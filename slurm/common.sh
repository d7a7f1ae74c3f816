# Sourced by every sbatch script in slurm/: where the code is, which config, and how to run one stage.
#
# Every script is parameterised by environment variables (sbatch passes the submitter's environment) and runs
# in the directory it was submitted from (relative paths in the config are relative to it):
#   NEMO_MATH_HOME       the nemo-math checkout (default: the submit directory)
#   NEMO_MATH_CONFIG     a YAML config path or preset name (default: tiny)
#   NEMO_MATH_OVERRIDES  space-separated dotted overrides, e.g. "run_dir=/lustre/me/run1 generate.num_samples=8"
#   NEMO_MATH_VENV       the virtual environment to activate (default: $NEMO_MATH_HOME/.venv)

set -euo pipefail

NEMO_MATH_HOME=${NEMO_MATH_HOME:-${SLURM_SUBMIT_DIR:-$PWD}}
NEMO_MATH_CONFIG=${NEMO_MATH_CONFIG:-tiny}
NEMO_MATH_OVERRIDES=${NEMO_MATH_OVERRIDES:-}
NEMO_MATH_VENV=${NEMO_MATH_VENV:-$NEMO_MATH_HOME/.venv}
export NEMO_MATH_HOME NEMO_MATH_CONFIG NEMO_MATH_OVERRIDES NEMO_MATH_VENV

if [ -f "$NEMO_MATH_VENV/bin/activate" ]; then
  # shellcheck disable=SC1091
  source "$NEMO_MATH_VENV/bin/activate"
fi
read -r -a OVERRIDES <<<"$NEMO_MATH_OVERRIDES"

echo "[$(date -u +%FT%TZ)] job ${SLURM_JOB_ID:-local}${SLURM_ARRAY_TASK_ID:+ task $SLURM_ARRAY_TASK_ID}" \
  "on ${SLURM_JOB_NODELIST:-$(hostname)} (restart ${SLURM_RESTART_COUNT:-0}):" \
  "config $NEMO_MATH_CONFIG $NEMO_MATH_OVERRIDES"

# nemo_math STAGE [ARGS...]: run one stage with the job's config; extra args (flags, overrides) come last and win.
nemo_math() {
  local stage=$1 start rc=0
  shift
  echo "+ nemo-math $stage --config $NEMO_MATH_CONFIG ${OVERRIDES[*]} $*"
  start=$(date +%s.%N)
  python -m nemo_math.cli "$stage" --config "$NEMO_MATH_CONFIG" "${OVERRIDES[@]}" "$@" || rc=$?
  record_timing "$stage" "$start" "$rc"
  return "$rc"
}

# record_timing STAGE START EXIT_CODE: with NEMO_MATH_LOG_DIR set (submit_pipeline.sh does), one line per run in
# its timings.jsonl, from which the report job takes each stage's wall time
record_timing() {
  [ -n "${NEMO_MATH_LOG_DIR:-}" ] || return 0
  local job="${SLURM_ARRAY_JOB_ID:-${SLURM_JOB_ID:-local}}${SLURM_ARRAY_TASK_ID:+_$SLURM_ARRAY_TASK_ID}"
  printf '{"stage": "%s", "job": "%s", "start": %s, "end": %s, "exit_code": %d}\n' "$1" "$job" "$2" \
    "$(date +%s.%N)" "$3" >>"$NEMO_MATH_LOG_DIR/timings.jsonl"
}

# start_server NAME "COMMAND" PORT: run an OpenAI-compatible server (vLLM, SGLang, ...) on this node in the
# background, wait until http://HOST:PORT/health answers, and stop it when the job exits.
# NEMO_MATH_SERVER_TIMEOUT bounds the wait (default 1800 s: loading a 120B model takes a while).
start_server() {
  local name=$1 command=$2 port=$3 log
  log="${NEMO_MATH_LOG_DIR:-.}/${name}-${SLURM_JOB_ID:-local}${SLURM_ARRAY_TASK_ID:+-$SLURM_ARRAY_TASK_ID}.log"
  echo "starting $name server: $command (log: $log)"
  setsid bash -c "$command" >"$log" 2>&1 &  # own process group, so stopping it stops its workers too
  SERVER_PIDS+=("$!")
  trap 'stop_servers' EXIT
  python - "$port" "${NEMO_MATH_SERVER_TIMEOUT:-1800}" "$name" <<'PY'
import sys, time, urllib.request
port, timeout, name = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
deadline = time.monotonic() + timeout
while time.monotonic() < deadline:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as r:
            if r.status == 200:
                print(f"{name} server healthy on port {port}")
                sys.exit(0)
    except OSError:
        pass
    time.sleep(2)
sys.exit(f"{name} server did not answer /health on port {port} within {timeout:.0f} s")
PY
}

SERVER_PIDS=()
stop_servers() {
  local pid
  for pid in "${SERVER_PIDS[@]}"; do
    kill -- "-$pid" 2>/dev/null || kill "$pid" 2>/dev/null || true
  done
  wait 2>/dev/null || true
}
