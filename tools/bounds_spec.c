/* nflow train --bounds SPEC: comma-separated COLS=LO:HI items, COLS a
 * column list as for --columns (0-based, of the data as read), either
 * side empty for an open one. A column list may hold commas itself
 * ("1,3=0:1"): a piece without '=' belongs to the item that follows. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* A message and EXIT_USAGE, for rc = USAGE(...). */
#define USAGE(...) (cli_error(cmd, __VA_ARGS__), EXIT_USAGE)

/* A side of LO:HI: empty is open (*v = fallback); else a finite number
 * within +-1e30 (the library's range). */
static int parse_side(const char *cmd, const char *item, const char *s, size_t len, double fallback, double *v)
{
    if (len == 0) {
        *v = fallback;
        return 0;
    }
    char buf[64], *end;
    if (len >= sizeof buf)
        return USAGE("--bounds: '%s': bound '%.*s' is not a number", item, (int)len, s);
    memcpy(buf, s, len);
    buf[len] = '\0';
    double d = strtod(buf, &end);
    if (end == buf || *end)
        return USAGE("--bounds: '%s': bound '%s' is not a number", item, buf);
    if (!isfinite(d) || fabs(d) > 1e30)
        return USAGE("--bounds: '%s': bound '%s' is not a finite number within +-1e30 (leave a side "
                              "empty for an open one: 0= 0: or :1)", item, buf);
    *v = d;
    return 0;
}

void cli_bounds_free(cli_bounds *b)
{
    for (int i = 0; i < b->n; i++)
        free(b->items[i].cols);
    free(b->items);
    memset(b, 0, sizeof *b);
}

int cli_bounds_parse(const char *cmd, const char *spec, cli_bounds *out)
{
    memset(out, 0, sizeof *out);
    size_t n = strlen(spec);
    char *cols = malloc(n + 1);
    out->items = malloc(sizeof *out->items * (n / 2 + 1)); /* an item takes at least "c=:" */
    if (!cols || !out->items) {
        free(cols);
        return cli_error(cmd, "out of memory");
    }
    size_t k = 0; /* cols collected so far */
    const char *p = spec;
    int rc = 0;
    while (!rc) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        if (!eq) { /* part of the next item's column list */
            if (len == 0 || !end) {
                rc = USAGE("--bounds '%s': %s: each item is COLS=LO:HI, e.g. 0-1=0:1,2=0:", spec,
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
        snprintf(item, sizeof item, "%s=%.*s", cols, (int)(len - (size_t)(eq - p) - 1), eq + 1);
        const char *range = eq + 1, *colon = memchr(range, ':', len - (size_t)(eq - p) - 1);
        size_t rlen = len - (size_t)(eq - p) - 1;
        double lo = -INFINITY, hi = INFINITY;
        if (k == 0 || cols[k - 1] == ',') {
            rc = USAGE("--bounds: '%s': no column before '='", item);
            break;
        }
        if (!colon || memchr(colon + 1, ':', rlen - (size_t)(colon - range) - 1)) {
            rc = USAGE("--bounds: '%s': the bounds are LO:HI, either side empty for an open one (0:1, 0:, :1)",
                           item);
            break;
        }
        if ((rc = parse_side(cmd, item, range, (size_t)(colon - range), -INFINITY, &lo)) ||
            (rc = parse_side(cmd, item, colon + 1, rlen - (size_t)(colon - range) - 1, INFINITY, &hi)))
            break;
        if (isinf(lo) && isinf(hi)) {
            rc = USAGE("--bounds: '%s': no bound on either side", item);
            break;
        }
        if (!(lo < hi)) {
            rc = USAGE("--bounds: '%s': the lower bound %g is not below the upper bound %g", item, lo, hi);
            break;
        }
        char *c = malloc(k + 1);
        if (!c) {
            rc = cli_error(cmd, "out of memory");
            break;
        }
        memcpy(c, cols, k + 1);
        out->items[out->n++] = (cli_bound){c, lo, hi};
        k = 0;
        if (!end)
            break;
        p = end + 1;
    }
    free(cols);
    if (rc)
        cli_bounds_free(out);
    return rc;
}

int cli_bounds_resolve(const char *cmd, const cli_bounds *b, size_t n_cols, const int *context_flags, double *lo,
                       double *hi)
{
    int *fl = malloc(sizeof(int) * (n_cols ? n_cols : 1)), *seen = calloc(n_cols ? n_cols : 1, sizeof(int));
    if (!fl || !seen) {
        free(fl);
        free(seen);
        return cli_error(cmd, "out of memory");
    }
    size_t dim = 0;
    for (size_t j = 0; j < n_cols; j++)
        if (!context_flags || !context_flags[j]) {
            lo[dim] = -INFINITY;
            hi[dim++] = INFINITY;
        }
    int rc = 0;
    for (int i = 0; i < b->n && !rc; i++) {
        const cli_bound *it = &b->items[i];
        if (nf_column_flags(it->cols, n_cols, fl)) {
            rc = USAGE("--bounds: '%s=...': %s", it->cols, nf_last_error());
            break;
        }
        for (size_t j = 0, xj = 0; j < n_cols && !rc; j++) {
            int ctx = context_flags && context_flags[j];
            if (fl[j] && ctx)
                rc = USAGE("--bounds: column %zu is a context column (--context-columns): bounds apply to "
                                    "the modelled columns x, the context is given, not modelled", j);
            else if (fl[j] && seen[j])
                rc = USAGE("--bounds: column %zu is bounded twice", j);
            else if (fl[j]) {
                seen[j] = 1;
                lo[xj] = it->lo;
                hi[xj] = it->hi;
            }
            xj += !ctx;
        }
    }
    free(fl);
    free(seen);
    return rc;
}

int cli_bounds_check_rows(const char *cmd, const char *path, const nf_matrix *m, const int *context_flags,
                          const double *lo, const double *hi)
{
    for (size_t r = 0; r < m->rows; r++)
        for (size_t j = 0, xj = 0; j < m->cols; j++) {
            if (context_flags && context_flags[j])
                continue;
            double v = m->values[r * m->cols + j];
            if (!(v > lo[xj] && v < hi[xj]))
                return cli_error(cmd, "%s: row %zu (0-based, a header not counted), column %zu: %.9g is not "
                                      "strictly inside its bounds (%g, %g); a density on the open interval is 0 on "
                                      "a bound: widen the bound or move the value inside",
                                 path, r, j, v, lo[xj], hi[xj]);
            xj++;
        }
    return 0;
}
