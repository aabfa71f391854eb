/* Internal error reporting: set the thread's last-error message and return
 * the status, so a failure is one line: return nf_fail(NF_ERR_IO, ...). */
#ifndef NF_ERROR_H
#define NF_ERROR_H

#include "nflow.h"

#if defined(__GNUC__)
#define NF_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define NF_PRINTF(a, b)
#endif

nf_status nf_fail(nf_status code, const char *fmt, ...) NF_PRINTF(2, 3);
void nf_clear_error(void);
/* The code of this thread's last nf_fail (NF_OK after nf_clear_error): a
 * constructor that returns NULL has said why with it. */
nf_status nf_fail_code(void);

#endif
