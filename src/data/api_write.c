/* Writing data matrices: nf_matrix_write (float32) and
 * nf_matrix_write_double (float64), as .npy (by extension, any case) or CSV.
 *
 * .npy: version 1.0, little-endian, C order, the header padded with spaces
 * and ended by '\n' so that the data start at a multiple of 64 bytes, as
 * numpy writes it. CSV: no header, "%.9g" for floats and "%.17g" for doubles,
 * which read back to the same bits. Values are written as given (NaN and Inf
 * included; the reader refuses them). Everything goes through atomic_file:
 * a failed write leaves no partial file and the old file, if any, intact. */
#include "data/data_common.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/atomic_file.h"
#include "core/error.h"

#define WRITE_CHUNK 65536

static nf_status check_args(const char *fn, const char *path, const void *values, size_t rows, size_t cols,
                            size_t itemsize)
{
    if (!path || !path[0])
        return nf_fail(NF_ERR_INVALID, "%s: no file name", fn);
    if (!values)
        return nf_fail(NF_ERR_INVALID, "%s: %s: no values (NULL)", path, fn);
    if (rows == 0 || cols == 0)
        return nf_fail(NF_ERR_INVALID, "%s: %s: cannot write an empty matrix (%zu x %zu)", path, fn, rows, cols);
    if (rows > SIZE_MAX / cols / itemsize)
        return nf_fail(NF_ERR_INVALID, "%s: %s: %zu x %zu values is too many", path, fn, rows, cols);
    return NF_OK;
}

static void write_npy_header(FILE *fp, const char *descr, size_t rows, size_t cols)
{
    char dict[160];
    int n = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (%zu, %zu), }", descr, rows,
                     cols);
    size_t used = 10 + (size_t)n + 1; /* magic, version, length, dict, '\n' */
    size_t pad = (64 - used % 64) % 64;
    size_t hlen = (size_t)n + pad + 1;
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(hlen & 0xff),
                             (unsigned char)(hlen >> 8)};
    fwrite(pre, 1, sizeof pre, fp);
    fwrite(dict, 1, (size_t)n, fp);
    for (size_t i = 0; i < pad; i++)
        fputc(' ', fp);
    fputc('\n', fp);
}

/* Writes n items of itemsize bytes little-endian. */
static void write_le(FILE *fp, const void *values, size_t n, size_t itemsize)
{
    if (dio_host_little_endian()) {
        fwrite(values, itemsize, n, fp);
        return;
    }
    unsigned char buf[WRITE_CHUNK];
    const unsigned char *src = values;
    size_t per = sizeof buf / itemsize;
    for (size_t i = 0; i < n; i += per) {
        size_t m = n - i < per ? n - i : per;
        for (size_t j = 0; j < m; j++)
            for (size_t b = 0; b < itemsize; b++)
                buf[j * itemsize + b] = src[(i + j) * itemsize + itemsize - 1 - b];
        if (fwrite(buf, itemsize, m, fp) != m)
            return; /* the stream's error flag fails the commit */
    }
}

static nf_status write_matrix(const char *fn, const char *path, const void *values, size_t rows, size_t cols,
                              int is_double)
{
    size_t itemsize = is_double ? sizeof(double) : sizeof(float);
    nf_status st = check_args(fn, path, values, rows, cols, itemsize);
    if (st != NF_OK)
        return st;
    atomic_file af;
    st = atomic_open(&af, path);
    if (st != NF_OK)
        return st;
    FILE *fp = af.fp;
    if (dio_is_npy(path)) {
        write_npy_header(fp, is_double ? "<f8" : "<f4", rows, cols);
        write_le(fp, values, rows * cols, itemsize);
    } else {
        const float *vf = values;
        const double *vd = values;
        for (size_t r = 0; r < rows && !ferror(fp); r++) {
            for (size_t c = 0; c < cols; c++) {
                if (c)
                    fputc(',', fp);
                if (is_double)
                    fprintf(fp, "%.17g", vd[r * cols + c]);
                else
                    fprintf(fp, "%.9g", (double)vf[r * cols + c]);
            }
            fputc('\n', fp);
        }
    }
    return atomic_commit(&af); /* checks the stream; removes the temporary on failure */
}

nf_status nf_matrix_write(const char *path, const nf_matrix *m)
{
    if (!m)
        return nf_fail(NF_ERR_INVALID, "nf_matrix_write: %s: no matrix (NULL)", path ? path : "(no file name)");
    return write_matrix("nf_matrix_write", path, m->values, m->rows, m->cols, 0);
}

nf_status nf_matrix_write_double(const char *path, const double *values, size_t rows, size_t cols)
{
    return write_matrix("nf_matrix_write_double", path, values, rows, cols, 1);
}
