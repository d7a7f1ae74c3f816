.PHONY: install test test-fast

install:
	./install.sh

# The whole suite, the real-SLURM tests included (scripts/slurm_cluster.sh brings the cluster up and down).
test:
	./scripts/run_tests.sh

test-fast:
	.venv/bin/python -m pytest -q -m "not slow and not slurm"
