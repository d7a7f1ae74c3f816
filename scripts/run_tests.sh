#!/usr/bin/env bash
# The README's test command: bring up the one-node SLURM cluster the `slurm` tests need (when the machine can),
# run the whole suite, bring the cluster down.
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
if [ -x scripts/slurm_cluster.sh ] && [ -z "${NEMO_MATH_NO_SLURM:-}" ]; then
  if env_lines=$(scripts/slurm_cluster.sh up); then
    eval "$env_lines"
    trap 'scripts/slurm_cluster.sh down >/dev/null 2>&1' EXIT
  else
    echo "warning: could not start the local SLURM cluster; slurm tests will skip" >&2
  fi
fi
python -m pytest "$@"
