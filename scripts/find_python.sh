#!/usr/bin/env bash
# Print the path of a Python X.Y that runs: pyenv's X.Y installs first, then pythonX.Y on PATH; exit 1 if none.
# Each candidate is run to check: pyenv's shim named pythonX.Y exists even where X.Y is not the selected version.
# Usage: scripts/find_python.sh X.Y      (install.sh: 3.12; scripts/install_vllm_cpu.sh: 3.11)
set -euo pipefail
version=${1:?usage: scripts/find_python.sh X.Y}
for cand in "$(pyenv root 2>/dev/null)/versions/$version"*/bin/"python$version" \
            "$HOME/.pyenv/versions/$version"*/bin/"python$version" "python$version"; do
  if "$cand" -c "import sys; assert '%d.%d' % sys.version_info[:2] == '$version'" >/dev/null 2>&1; then
    echo "$cand"
    exit 0
  fi
done
exit 1
