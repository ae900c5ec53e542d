#!/bin/sh
# Builds and runs the tests: sh run_tests.sh IMPLEMENTATION.c API_FUNCTION...
#
# The test program (test_main.c, with any test headers added at verification) is
# compiled first, then those headers are removed and the code under test is
# compiled on its own.  It must be a plain library: it may define its own helpers,
# but not a function the test program calls (other than the API named on the
# command line), a reserved name (_X..., __x...) or main; no constructors,
# destructors or ifuncs; no calls that end the process, open or write files, read
# the environment or start programs; and no system calls of its own.  Anything
# else is refused before a test runs: exit status 3, a "cab: ..." line on stderr
# and, when CAB_TEST_REPORT names a file, a "refused ..." line then "end 0 0" in
# it (a complete report without a single test, canaries included, which the
# harness judges as forged).  Only the test program reports results.  Protected:
# do not edit.
set -eu
impl=$1
shift
refuse() {
    echo "cab: $impl $1 (refused before running the tests)" >&2
    if [ -n "${CAB_TEST_REPORT:-}" ]; then
        printf 'refused %s %s\nend 0 0\n' "$impl" "$1" >>"$CAB_TEST_REPORT"
    fi
    rm -f cab_main.o cab_impl.o
    exit 3
}
cc -std=c11 -Wall -Wextra -c -o cab_main.o test_main.c
rm -f cab_canary.h hidden_tests.h
cc -std=c11 -Wall -Wextra -c -o cab_impl.o "$impl"

calls=$(nm -u cab_main.o | awk '{print $NF}' | sed 's/@.*//')
for name in $(nm -g --defined-only cab_impl.o | awk 'NF >= 3 {print $NF}'); do
    case " $* " in *" $name "*) continue ;; esac
    case $name in main | _[A-Z_]*) refuse "defines the reserved name $name" ;; esac
    for called in $calls; do
        [ "$name" = "$called" ] && refuse "defines $name, which the test program calls"
    done
done
ifuncs=$(nm cab_impl.o | awk '$2 == "i" {print $3}')
[ -z "$ifuncs" ] || refuse "defines indirect functions: $ifuncs"
if readelf -SW cab_impl.o | grep -Eq '\.(preinit_array|init_array|fini_array|ctors|dtors|init|fini)([. ]|$)'; then
    refuse "has constructors or destructors"
fi
forbidden='^(exit|_exit|_Exit|quick_exit|atexit|at_quick_exit|on_exit|getenv|secure_getenv|setenv|putenv|unsetenv|clearenv|environ|fopen|fopen64|fdopen|freopen|freopen64|open|open64|openat|openat64|creat|creat64|write|pwrite|pwrite64|writev|dup|dup2|dup3|remove|unlink|unlinkat|rename|renameat|truncate|ftruncate|syscall|dlopen|dlsym|dlvsym|system|popen|fork|vfork|clone|execl|execle|execlp|execv|execve|execvp|execvpe|posix_spawn|posix_spawnp|kill|raise|signal|sigaction|ptrace|mmap|mmap64|mprotect|longjmp|siglongjmp)$'
bad=$(nm -u cab_impl.o | awk '{print $NF}' | sed 's/@.*//' | grep -E "$forbidden" | tr '\n' ' ' || true)
[ -z "$bad" ] || refuse "calls $bad"
if objdump -d cab_impl.o | awk -F '\t' 'NF >= 3 {print $3}' | grep -Eq '^(syscall|sysenter|svc|int +\$0x80)( |$)'; then
    refuse "makes system calls itself"
fi

cc -s -o t_run cab_main.o cab_impl.o
rm -f cab_main.o cab_impl.o
exec ./t_run
