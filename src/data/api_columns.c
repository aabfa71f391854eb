/* Column lists ("0-2", "1,3,5-7") as flags: which columns of a matrix a
 * list names (the tool's --context-columns). */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "data/columns.h"

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
