#!/usr/bin/env bash
# Set up nemo-math on a fresh machine: system packages (bubblewrap for the sandbox, a one-node SLURM for the
# tests), a Python 3.12 virtual environment in .venv, and the package with its [dev] extra.
set -euo pipefail
cd "$(dirname "$0")"

need_apt=()
command -v bwrap >/dev/null || need_apt+=(bubblewrap)
command -v slurmctld >/dev/null || need_apt+=(slurm-wlm)
command -v munged >/dev/null || need_apt+=(munge)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing system packages: ${need_apt[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  else
    echo "warning: please install ${need_apt[*]} (the sandbox needs bubblewrap; the SLURM tests need slurm-wlm, munge)" >&2
  fi
fi

PYTHON=${PYTHON:-$(scripts/find_python.sh 3.12)} ||
  { echo "error: Python 3.12 not found (megatron-core 0.19 ships cp312 wheels only); set PYTHON=" >&2; exit 1; }

[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[dev]'
echo "installed: $(.venv/bin/nemo-math --help >/dev/null && echo nemo-math) in .venv (activate: source .venv/bin/activate)"
