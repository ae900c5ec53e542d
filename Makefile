# The two commands the README promises: `make demo` (set up, run a real cell) and `make test`.
.PHONY: setup demo test test-fast validate

setup:
	@bash scripts/setup.sh

# The main job: the real pi agent (installed into the agent cache on first use) solves the
# reference task against the built-in scripted model endpoint: offline, no key.
demo: setup
	.venv/bin/cab agents install pi
	.venv/bin/cab run --adapter pi --model scripted/oracle --task polyglot/rust-error-handling

test:
	bash scripts/test.sh

test-fast: setup
	.venv/bin/python -m pytest -q -m "not slow"

validate: setup
	.venv/bin/cab tasks validate
