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

# The quick loop: every test not marked slow, on as many workers as cores (pytest-xdist; a module
# stays on one worker, so its module-scoped fixtures, a sweep say, are built once), and a
# list of those that took over 2 s (conftest.py) so a slow newcomer is marked before it adds up.
# PYTHONDONTWRITEBYTECODE is cleared for it: pytest then keeps the assertion-rewritten modules
# (about 340, cab_core included) in __pycache__ instead of rewriting them all on every run.
test-fast: setup
	PYTHONDONTWRITEBYTECODE= .venv/bin/python -m pytest -q -m "not slow" -n auto --dist loadscope

validate: setup
	.venv/bin/cab tasks validate
