#!/usr/bin/env bash
# Submit the whole nemo-math chain to SLURM, each job depending on the one before (afterok), then a report job,
# and print "STAGE JOBID" lines. Stages already complete (their _SUCCESS.json exists) are not submitted.
#
#   slurm/submit_pipeline.sh --config configs/qwen3_8b.yaml run_dir=/lustre/$USER/run1
#
# Options: --config FILE|PRESET (repeatable, later files win; default tiny), --dry-run (print the sbatch
# commands, submit nothing), KEY=VALUE overrides. Every job reads one frozen copy of the resolved config,
# $run_dir/slurm-config.yaml. Environment:
#   NEMO_MATH_SBATCH            sbatch options for every job (e.g. "--account=abc --partition=batch")
#   NEMO_MATH_SBATCH_<STAGE>    sbatch options for one stage (e.g. NEMO_MATH_SBATCH_TRAIN="--nodes=8 --gpus-per-node=8")
#   NEMO_MATH_{GENERATE,GRADE,EVALUATE}_SHARDS   array sizes (default 1)
#   NEMO_MATH_LOG_DIR           where job logs go (default: $run_dir/slurm-logs)
#   TEACHER_SERVER_CMD, JUDGE_SERVER_CMD, STUDENT_SERVER_CMD   see generate/grade/evaluate.sbatch
set -euo pipefail

NEMO_MATH_HOME=${NEMO_MATH_HOME:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
NEMO_MATH_VENV=${NEMO_MATH_VENV:-$NEMO_MATH_HOME/.venv}
export NEMO_MATH_HOME NEMO_MATH_VENV
if [ -f "$NEMO_MATH_VENV/bin/activate" ]; then
  # shellcheck disable=SC1091
  source "$NEMO_MATH_VENV/bin/activate"
fi

configs=()
dry_run=0
overrides=()
while [ $# -gt 0 ]; do
  case $1 in
    --config | -c) configs+=(--config "$2"); shift 2 ;;
    --config=*) configs+=(--config "${1#--config=}"); shift ;;
    --dry-run) dry_run=1; shift ;;
    -h | --help) sed -n '2,14p' "$0"; exit 0 ;;
    *=*) overrides+=("$1"); shift ;;
    *) echo "submit_pipeline: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ ${#configs[@]} -gt 0 ] || configs=(--config tiny)

# the run folder, absolute (jobs start in this directory too, but a frozen config should not depend on it)
run_dir=$(python -m nemo_math.cli pipeline --quiet "${configs[@]}" "${overrides[@]}" --plan | sed -n 's/^run_dir //p')
run_dir=$(realpath -m "$run_dir")
overrides+=("run_dir=$run_dir")
# every job reads one frozen, fully resolved copy of the config: no quoting of overrides through sbatch, and
# editing the YAML later does not change a chain already queued
mkdir -p "$run_dir"
frozen="$run_dir/slurm-config.yaml"
python -m nemo_math.cli pipeline --quiet "${configs[@]}" "${overrides[@]}" --print-config >"$frozen"
export NEMO_MATH_CONFIG=$frozen NEMO_MATH_OVERRIDES=""

# "STAGE done|pending OUTPUT_DIR [ARGS]" per job (train: one per SFT stage)
plan=$(python -m nemo_math.cli pipeline --quiet --config "$frozen" --plan)
NEMO_MATH_LOG_DIR=${NEMO_MATH_LOG_DIR:-$run_dir/slurm-logs}
export NEMO_MATH_LOG_DIR
mkdir -p "$NEMO_MATH_LOG_DIR"

read -r -a common <<<"${NEMO_MATH_SBATCH:-}"
previous=""

# submit STAGE NAME SCRIPT [SBATCH OPTIONS...]: submit after the previous job and remember its id
submit() {
  local stage=$1 name=$2 script=$3 stage_var opts cmd
  shift 3
  stage_var="NEMO_MATH_SBATCH_$(echo "$stage" | tr '[:lower:]' '[:upper:]')"
  read -r -a opts <<<"${!stage_var:-}"
  local log="$NEMO_MATH_LOG_DIR/%x-%j.out"
  [[ "$*" == *--array* ]] && log="$NEMO_MATH_LOG_DIR/%x-%A_%a.out"
  cmd=(sbatch --parsable --job-name="nm-$name" --output="$log" "${common[@]}" "$@" "${opts[@]}")
  [ -n "$previous" ] && cmd+=(--dependency="afterok:$previous" --kill-on-invalid-dep=yes)
  cmd+=("$NEMO_MATH_HOME/slurm/$script")
  if [ "$dry_run" = 1 ]; then
    echo "${cmd[*]}" >&2
    previous="DRYRUN_$name"
  else
    previous=$("${cmd[@]}" </dev/null)
    previous=${previous%%;*}
  fi
  echo "$name $previous"
}

while read -r stage status _dir args; do
  [ -n "$stage" ] && [ "$stage" != run_dir ] || continue
  if [ "$status" = done ]; then
    echo "$stage done" >&2
    continue
  fi
  case $stage in
    generate | grade | evaluate)
      # an array job, one task per shard; the last shard to finish marks the stage complete
      var="NEMO_MATH_$(echo "$stage" | tr '[:lower:]' '[:upper:]')_SHARDS"
      shards=${!var:-1}
      if [ "$shards" -gt 1 ]; then
        submit "$stage" "$stage" "$stage.sbatch" "--array=0-$((shards - 1))"
      else
        submit "$stage" "$stage" "$stage.sbatch"
      fi
      ;;
    train*) NEMO_MATH_TRAIN_ARGS="${args:-}" submit train "$stage" train.sbatch ;;
    *) submit "$stage" "$stage" "$stage.sbatch" ;;
  esac
done <<<"$plan"
submit report report report.sbatch
