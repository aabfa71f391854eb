/* nf_data_options.bounds: "COLS=LO:HI" items read into per-column bounds. */
#ifndef NF_DATA_BOUNDS_SPEC_H
#define NF_DATA_BOUNDS_SPEC_H

#include <stddef.h>

#include "nflow.h"

/* Per column of x (the n_cols columns of the data as read less the
 * context_flags ones; NULL: none): lo[], hi[] (-inf / +inf where open).
 * NF_ERR_INVALID, naming the item, for a malformed item, a column out of
 * range, bounded twice, or of the context. */
nf_status bounds_spec_resolve(const char *spec, size_t n_cols, const int *context_flags, double *lo, double *hi);

#endif
