/* Internal interface of the data readers and writers (nf_matrix_read,
 * nf_matrix_write, nf_matrix_write_double). The public entry points are in
 * data_io.c (reading) and data_io_write.c (writing); the CSV reader is in
 * data_io_csv.c, the .npy reader in data_io_npy.c, the column list in
 * data_io_cols.c. Nothing here is exported. */
#ifndef NF_DATA_IO_H
#define NF_DATA_IO_H

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

/* Conversion of a double to float32: DIO_FLOAT_OK, or why it is refused.
 * Inline: the readers call it for every value. */
enum { DIO_FLOAT_OK = 0, DIO_FLOAT_NAN, DIO_FLOAT_INF, DIO_FLOAT_OVERFLOW };
static inline int dio_to_float(double v, float *out)
{
    if (v != v)
        return DIO_FLOAT_NAN;
    double a = v < 0 ? -v : v;
    /* Halfway between FLT_MAX and 2^128: from here on, rounding to float
     * gives infinity (FLT_MAX has an odd significand, so ties go up). */
    if (a >= 0x1.ffffffp127)
        return a > 0x1.fffffffffffffp1023 ? DIO_FLOAT_INF : DIO_FLOAT_OVERFLOW;
    *out = (float)v;
    return DIO_FLOAT_OK;
}

/* Whether path ends in ".npy" (any case). */
int dio_is_npy(const char *path);
/* Whether this machine stores numbers little-endian. */
int dio_host_little_endian(void);
/* Copies at most size-1 bytes of [s, s+len) into buf for a message,
 * replacing unprintable bytes with '?' and marking a cut with "...". */
const char *dio_quote(char *buf, size_t size, const char *s, size_t len);

nf_status dio_read_csv(const char *path, int header, const dio_colspec *cs, nf_matrix *out);
nf_status dio_read_npy(const char *path, const dio_colspec *cs, nf_matrix *out);

#endif
