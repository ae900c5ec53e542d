#!/bin/sh
# cab's cargo test runner (CARGO_TARGET_<triple>_RUNNER): runs one test binary with
# libtest's --logfile in the report folder the harness names, so every test binary's
# per-test results (`ok NAME` / `failed NAME` / `ignored NAME`) land in a file of their
# own, named after the binary; the exit status is recorded beside it.
bin="$1"; shift
name=$(basename "$bin")
n=0
while [ -e "$CAB_VERDICT_DIR/$name.$n.log" ]; do n=$((n + 1)); done
"$bin" "$@" --logfile "$CAB_VERDICT_DIR/$name.$n.log"
code=$?
echo "$code" > "$CAB_VERDICT_DIR/$name.$n.exit"
exit $code
