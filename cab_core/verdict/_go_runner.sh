#!/bin/sh
# cab's go test runner (go test -exec): runs one package's test binary verbosely, keeps
# its output in the report folder the harness names (one file per binary, the exit
# status beside it) and prints it.  The harness reads each test's --- PASS / FAIL /
# SKIP line from the kept output (a fail never undone by a later line) and calls the
# report complete only when the binary's own closing PASS or FAIL line is there.
bin="$1"; shift
name=$(basename "$bin" .test)
n=0
while [ -e "$CAB_VERDICT_DIR/$name.$n.out" ]; do n=$((n + 1)); done
"$bin" "$@" -test.v=true > "$CAB_VERDICT_DIR/$name.$n.out" 2>&1
code=$?
cat "$CAB_VERDICT_DIR/$name.$n.out"
echo "$code" > "$CAB_VERDICT_DIR/$name.$n.exit"
exit $code
