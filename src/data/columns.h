/* Column lists ("0-9", "1,3,5-7") of nf_read_options.columns. */
#ifndef NF_DATA_COLUMNS_H
#define NF_DATA_COLUMNS_H

#include <stddef.h>

#include "nflow.h"

/* A parsed column list ("0-9", "1,3,5-7"): the ranges as written, 0-based,
 * inclusive. text == NULL means every column. */
typedef struct dio_colspec {
    const char *text;
    size_t n;
    size_t *lo, *hi;
} dio_colspec;

/* Parses opt->columns; a malformed list is NF_ERR_INVALID naming it. */
nf_status dio_colspec_parse(const char *path, const char *text, dio_colspec *cs);
void dio_colspec_free(dio_colspec *cs);
/* The selected 0-based indices, in the order written, for a file of ncols
 * columns (all of them when cs->text is NULL). An index out of range or
 * selected twice is NF_ERR_INVALID naming the file. *idx is malloc'd. */
nf_status dio_colspec_resolve(const char *path, const dio_colspec *cs, size_t ncols, size_t **idx,
                              size_t *nsel);

#endif
