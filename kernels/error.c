#include "error.h"

#include <stdarg.h>
#include <stdio.h>

static _Thread_local char g_msg[1024];

int ss_seterr(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_msg, sizeof g_msg, fmt, ap);
    va_end(ap);
    return SS_ERR;
}

const char *semiseg_error(void) { return g_msg; }

void ss_clearerr(void) { g_msg[0] = '\0'; }
