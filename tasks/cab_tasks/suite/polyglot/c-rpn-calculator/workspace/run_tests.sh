#!/bin/sh
# Builds and runs the tests: sh run_tests.sh IMPLEMENTATION.c API_FUNCTION...
#
# The test program (test_main.c, with any test headers added at verification) is
# compiled first, then those headers are removed and the code under test is
# compiled on its own.  It must be a plain library: it may define its own helpers,
# but not a function the test program calls (other than the API named on the
# command line), a reserved name (_X..., __x...) or main; no constructors,
# destructors or ifuncs; it may call only the C library's pure functions (strings,
# characters, memory, numbers, math: the list below) and print to stdout or stderr
# (debugging output only adds lines: it never takes back the test program's PASS/FAIL
# or report lines, and the harness judges by those); so nothing that ends the
# process, opens or writes files, reads the environment, starts programs or hooks
# the exit, under any of the C library's names; no system calls of its own and no
# calls through a computed address (a function pointer).  Anything else is refused
# before a test runs: exit status 3, a "cab: ..." line on stderr and, when
# CAB_TEST_REPORT names a file, a "refused ..." line then "end 0 0" in
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
# ISO C only: no computed gotos, no casts between data and function pointers.
cc -std=c11 -Wall -Wextra -pedantic-errors -c -o cab_impl.o "$impl"

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
allowed=' memcpy memmove memset memcmp memchr memrchr rawmemchr memmem strlen strnlen strcmp strncmp strcoll strcpy strncpy stpcpy stpncpy strcat strncat strchr strrchr strchrnul strstr strcasestr strspn strcspn strpbrk strtok strtok_r strdup strndup strcasecmp strncasecmp strerror bzero bcmp __ctype_b_loc __ctype_tolower_loc __ctype_toupper_loc tolower toupper isalpha isdigit isalnum isspace isupper islower isxdigit ispunct isprint isgraph iscntrl isblank malloc calloc realloc reallocarray free aligned_alloc strtol strtoul strtoll strtoull strtod strtof strtold strtoimax strtoumax __isoc23_strtol __isoc23_strtoul __isoc23_strtoll __isoc23_strtoull atoi atol atoll atof abs labs llabs div ldiv lldiv qsort bsearch sscanf __isoc99_sscanf __isoc23_sscanf snprintf sprintf vsnprintf vsprintf __sprintf_chk __snprintf_chk __vsnprintf_chk __vsprintf_chk __memcpy_chk __memmove_chk __memset_chk __strcpy_chk __strncpy_chk __strcat_chk __strncat_chk __stpcpy_chk __stack_chk_fail __assert_fail __errno_location abort sqrt sqrtf pow powf floor floorf ceil ceilf fabs fabsf fmod fmodf round roundf lround llround trunc truncf log log10 log2 logf exp exp2 expf sin cos tan asin acos atan atan2 sinf cosf tanf fmin fmax fminf fmaxf hypot cbrt ldexp frexp modf nan _GLOBAL_OFFSET_TABLE_ printf fprintf vprintf vfprintf __printf_chk __fprintf_chk __vprintf_chk __vfprintf_chk puts fputs putchar putc fputc _IO_putc fwrite fflush perror stdout stderr '
bad=''
for name in $(nm -u cab_impl.o | awk '{print $NF}' | sed 's/@.*//'); do
    case $allowed in *" $name "*) ;; *) bad="$bad$name " ;; esac
done
[ -z "$bad" ] || refuse "calls $bad(only the C library's pure functions and printing are allowed)"
if objdump -d cab_impl.o | awk -F '\t' 'NF >= 3 {print $3}' | grep -Eq '^(syscall|sysenter|svc|int +\$0x80)( |$)'; then
    refuse "makes system calls itself"
fi
if objdump -d cab_impl.o | awk -F '\t' 'NF >= 3 {print $3}' | grep -Eq '^(call|callq) +\*|^blr(aa[a-z]*)? '; then
    refuse "calls through a computed address"
fi

cc -s -o t_run cab_main.o cab_impl.o
rm -f cab_main.o cab_impl.o
exec ./t_run
