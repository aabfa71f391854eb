#include "core/error.h"

#include <stdarg.h>
#include <stdio.h>

static _Thread_local char last_error[1024];
static _Thread_local nf_status last_code;

nf_status nf_fail(nf_status code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    last_code = code;
    return code;
}

nf_status nf_fail_code(void) { return last_code; }

void nf_clear_error(void)
{
    last_error[0] = '\0';
    last_code = NF_OK;
}

const char *nf_last_error(void) { return last_error; }

const char *nf_status_string(nf_status s)
{
    switch (s) {
    case NF_OK: return "ok";
    case NF_ERR_NOMEM: return "out of memory";
    case NF_ERR_INVALID: return "invalid argument";
    case NF_ERR_IO: return "input/output error";
    case NF_ERR_FORMAT: return "malformed file";
    case NF_ERR_CHECKSUM: return "checksum mismatch";
    case NF_ERR_NONFINITE: return "non-finite value";
    case NF_ERR_DIMENSION: return "dimension mismatch";
    case NF_ERR_UNSUPPORTED: return "unsupported";
    }
    return "unknown status";
}
