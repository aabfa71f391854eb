/* Column lists ("0-2", "1,3,5-7") as flags: which columns of a matrix a
 * list names (the tool's --context-columns). */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "data/columns.h"

nf_status nf_column_of(const char *columns, size_t k, size_t *column)
{
    if (!column)
        return nf_fail(NF_ERR_INVALID, "NULL column");
    if (!columns) {
        *column = k;
        return NF_OK;
    }
    dio_colspec cs;
    nf_status st = dio_colspec_parse("column list", columns, &cs);
    if (st)
        return st;
    size_t left = k;
    int found = 0;
    for (size_t i = 0; i < cs.n && !found; i++) { /* the ranges in the order written */
        size_t len = cs.hi[i] - cs.lo[i] + 1;
        if (left < len) {
            *column = cs.lo[i] + left;
            found = 1;
        }
        left -= found ? 0 : len;
    }
    dio_colspec_free(&cs);
    return found ? NF_OK
                 : nf_fail(NF_ERR_INVALID, "column list \"%s\" selects fewer than %zu columns", columns, k + 1);
}

nf_status nf_column_flags(const char *columns, size_t n_cols, int *flags)
{
    if (!columns || !flags)
        return nf_fail(NF_ERR_INVALID, "NULL column list");
    dio_colspec cs;
    size_t *idx = NULL, n = 0;
    nf_status st = dio_colspec_parse("column list", columns, &cs);
    if (!st)
        st = dio_colspec_resolve("column list", &cs, n_cols, &idx, &n);
    dio_colspec_free(&cs);
    if (st)
        return st;
    memset(flags, 0, sizeof(int) * n_cols);
    for (size_t i = 0; i < n; i++)
        flags[idx[i]] = 1;
    free(idx);
    return NF_OK;
}

nf_status nf_columns_merge(const float *x, int dim, const float *context, int context_dim, size_t rows,
                           const char *context_columns, float *out)
{
    size_t n_cols = (size_t)dim + (size_t)context_dim;
    if (!x || !out || dim < 1 || context_dim < 0 || (context_dim && !context))
        return nf_fail(NF_ERR_INVALID, "nf_columns_merge: NULL arrays or widths out of range");
    int *flags = malloc(sizeof(int) * n_cols);
    if (!flags)
        return nf_fail(NF_ERR_NOMEM, "out of memory");
    nf_status st = NF_OK;
    if (context_columns)
        st = nf_column_flags(context_columns, n_cols, flags);
    else
        for (size_t j = 0; j < n_cols; j++)
            flags[j] = j >= (size_t)dim;
    size_t named = 0;
    for (size_t j = 0; !st && j < n_cols; j++)
        named += flags[j] != 0;
    if (!st && named != (size_t)context_dim)
        st = nf_fail(NF_ERR_INVALID, "context columns \"%s\" name %zu of %zu columns, not %d", context_columns, named,
                     n_cols, context_dim);
    for (size_t r = 0; !st && r < rows; r++)
        for (size_t j = 0; j < n_cols; j++)
            *out++ = flags[j] ? *context++ : *x++;
    free(flags);
    return st;
}
