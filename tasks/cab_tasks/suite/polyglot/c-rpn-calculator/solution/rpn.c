#include "rpn.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

enum rpn_status rpn_eval(const char *expr, long *result)
{
    long stack[RPN_MAX_DEPTH];
    int depth = 0;
    const char *p = expr;

    while (*p) {
        while (*p == ' ')
            p++;
        if (!*p)
            break;
        const char *start = p;
        while (*p && *p != ' ')
            p++;
        size_t len = (size_t)(p - start);

        int is_number = isdigit((unsigned char)start[0]) ||
                        (start[0] == '-' && len > 1 && isdigit((unsigned char)start[1]));
        if (is_number) {
            char *end;
            long v = strtol(start, &end, 10);
            if (end != p)
                return RPN_BAD_TOKEN;
            if (depth == RPN_MAX_DEPTH)
                return RPN_STACK_OVERFLOW;
            stack[depth++] = v;
        } else if (len == 1 && strchr("+-*/", start[0])) {
            if (depth < 2)
                return RPN_STACK_UNDERFLOW;
            long b = stack[--depth];
            long a = stack[--depth];
            long r;
            switch (start[0]) {
            case '+': r = a + b; break;
            case '-': r = a - b; break;
            case '*': r = a * b; break;
            default:
                if (b == 0)
                    return RPN_DIV_BY_ZERO;
                r = a / b;
                break;
            }
            stack[depth++] = r;
        } else {
            return RPN_BAD_TOKEN;
        }
    }

    if (depth != 1)
        return RPN_LEFTOVER;
    *result = stack[depth - 1];
    return RPN_OK;
}
