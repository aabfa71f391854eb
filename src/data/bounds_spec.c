/* Bounds written as text: comma-separated COLS=LO:HI items, COLS a column
 * list (0-based, of the data as read), either side empty for an open one.
 * A column list may hold commas itself ("1,3=0:1"): a piece without '='
 * belongs to the item that follows. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "data/bounds_spec.h"

/* A side of LO:HI: empty is open (*v = fallback); else a finite number
 * within +-1e30 (nf_flow_set_bounds's range). */
static nf_status parse_side(const char *item, const char *s, size_t len, double fallback, double *v)
{
    if (len == 0) {
        *v = fallback;
        return NF_OK;
    }
    char buf[64], *end;
    if (len >= sizeof buf)
        return nf_fail(NF_ERR_INVALID, "bounds: '%s': bound '%.*s' is not a number", item, (int)len, s);
    memcpy(buf, s, len);
    buf[len] = '\0';
    double d = strtod(buf, &end);
    if (end == buf || *end)
        return nf_fail(NF_ERR_INVALID, "bounds: '%s': bound '%s' is not a number", item, buf);
    if (!isfinite(d) || fabs(d) > 1e30)
        return nf_fail(NF_ERR_INVALID, "bounds: '%s': bound '%s' is not a finite number within +-1e30 (leave a "
                                       "side empty for an open one: 0= 0: or :1)", item, buf);
    *v = d;
    return NF_OK;
}

/* One item's columns (flags fl) into lo[], hi[] of x; seen[] marks the
 * columns bounded so far. */
static nf_status apply(const char *cols, double lo_v, double hi_v, size_t n_cols, const int *context_flags, int *fl,
                       int *seen, double *lo, double *hi)
{
    if (nf_column_flags(cols, n_cols, fl)) {
        char why[256]; /* nf_fail writes where nf_last_error reads */
        snprintf(why, sizeof why, "%s", nf_last_error());
        return nf_fail(NF_ERR_INVALID, "bounds: '%s=...': %s", cols, why);
    }
    for (size_t j = 0, xj = 0; j < n_cols; j++) {
        int ctx = context_flags && context_flags[j];
        if (fl[j] && ctx)
            return nf_fail(NF_ERR_INVALID, "bounds: column %zu is a context column: bounds apply to the modelled "
                                           "columns x, the context is given, not modelled", j);
        if (fl[j] && seen[j])
            return nf_fail(NF_ERR_INVALID, "bounds: column %zu is bounded twice", j);
        if (fl[j]) {
            seen[j] = 1;
            lo[xj] = lo_v;
            hi[xj] = hi_v;
        }
        xj += !ctx;
    }
    return NF_OK;
}

nf_status bounds_spec_resolve(const char *spec, size_t n_cols, const int *context_flags, double *lo, double *hi)
{
    size_t n = strlen(spec);
    char *cols = malloc(n + 1);
    int *fl = malloc(sizeof(int) * (n_cols ? n_cols : 1)), *seen = calloc(n_cols ? n_cols : 1, sizeof(int));
    nf_status st = NF_OK;
    if (!cols || !fl || !seen)
        st = nf_fail(NF_ERR_NOMEM, "out of memory reading bounds");
    for (size_t j = 0, xj = 0; j < n_cols; j++)
        if (!context_flags || !context_flags[j]) {
            lo[xj] = -INFINITY;
            hi[xj++] = INFINITY;
        }
    size_t k = 0; /* cols collected so far */
    const char *p = spec;
    while (!st) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        if (!eq) { /* part of the next item's column list */
            if (len == 0 || !end) {
                st = nf_fail(NF_ERR_INVALID, "bounds '%s': %s: each item is COLS=LO:HI, e.g. 0-1=0:1,2=0:", spec,
                             len ? "the last item has no '=LO:HI'" : "an empty item");
                break;
            }
            memcpy(cols + k, p, len);
            k += len;
            cols[k++] = ',';
            p = end + 1;
            continue;
        }
        memcpy(cols + k, p, (size_t)(eq - p));
        k += (size_t)(eq - p);
        cols[k] = '\0';
        char item[160];
        size_t rlen = len - (size_t)(eq - p) - 1;
        snprintf(item, sizeof item, "%s=%.*s", cols, (int)rlen, eq + 1);
        const char *range = eq + 1, *colon = memchr(range, ':', rlen);
        double lo_v = -INFINITY, hi_v = INFINITY;
        if (k == 0 || cols[k - 1] == ',')
            st = nf_fail(NF_ERR_INVALID, "bounds: '%s': no column before '='", item);
        else if (!colon || memchr(colon + 1, ':', rlen - (size_t)(colon - range) - 1))
            st = nf_fail(NF_ERR_INVALID, "bounds: '%s': the bounds are LO:HI, either side empty for an open one "
                                         "(0:1, 0:, :1)", item);
        else if ((st = parse_side(item, range, (size_t)(colon - range), -INFINITY, &lo_v)) ||
                 (st = parse_side(item, colon + 1, rlen - (size_t)(colon - range) - 1, INFINITY, &hi_v)))
            break;
        else if (isinf(lo_v) && isinf(hi_v))
            st = nf_fail(NF_ERR_INVALID, "bounds: '%s': no bound on either side", item);
        else if (!(lo_v < hi_v))
            st = nf_fail(NF_ERR_INVALID, "bounds: '%s': the lower bound %g is not below the upper bound %g", item,
                         lo_v, hi_v);
        else
            st = apply(cols, lo_v, hi_v, n_cols, context_flags, fl, seen, lo, hi);
        k = 0;
        if (st || !end)
            break;
        p = end + 1;
    }
    free(cols);
    free(fl);
    free(seen);
    return st;
}
