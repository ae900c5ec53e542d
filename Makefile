# The two commands the README promises: `make demo` (set up, run a real cell) and `make test`.
.PHONY: setup demo test test-fast validate

setup:
	@bash scripts/setup.sh

demo: setup
	.venv/bin/cab run --adapter mini --model scripted/oracle --task polyglot/rust-error-handling
	.venv/bin/cab run --adapter command --model noop --task polyglot/rust-error-handling || true

test:
	bash scripts/test.sh

test-fast: setup
	.venv/bin/python -m pytest -q -m "not slow"

validate: setup
	.venv/bin/cab tasks validate
