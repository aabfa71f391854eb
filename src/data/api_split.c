/* Seeded train/validation/test splits of a data matrix. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/rng.h"

static nf_status take(const nf_matrix *m, const int64_t *idx, size_t n, nf_matrix *out)
{
    memset(out, 0, sizeof *out);
    out->cols = m->cols;
    if (n == 0)
        return NF_OK;
    out->values = malloc(sizeof(float) * n * m->cols);
    if (!out->values)
        return nf_fail(NF_ERR_NOMEM, "out of memory splitting %zu rows", m->rows);
    out->rows = n;
    for (size_t i = 0; i < n; i++)
        memcpy(out->values + i * m->cols, m->values + (size_t)idx[i] * m->cols, sizeof(float) * m->cols);
    return NF_OK;
}

nf_status nf_matrix_split(const nf_matrix *m, double val_frac, double test_frac, uint64_t seed,
                          nf_matrix *train, nf_matrix *val, nf_matrix *test)
{
    memset(train, 0, sizeof *train);
    memset(val, 0, sizeof *val);
    memset(test, 0, sizeof *test);
    if (!(val_frac >= 0 && test_frac >= 0 && val_frac + test_frac < 1))
        return nf_fail(NF_ERR_INVALID, "split fractions %g and %g must be >= 0 and sum to less than 1", val_frac,
                       test_frac);
    size_t n = m->rows;
    size_t n_test = (size_t)llround(test_frac * (double)n), n_val = (size_t)llround(val_frac * (double)n);
    if (n_test + n_val >= n)
        return nf_fail(NF_ERR_INVALID, "%zu rows are too few to split off %zu validation and %zu test rows", n,
                       n_val, n_test);
    int64_t *idx = malloc(sizeof(int64_t) * (n ? n : 1));
    if (!idx)
        return nf_fail(NF_ERR_NOMEM, "out of memory splitting %zu rows", n);
    for (size_t i = 0; i < n; i++)
        idx[i] = (int64_t)i;
    rng r;
    rng_seed(&r, seed);
    rng_shuffle(&r, idx, (int64_t)n);
    size_t n_train = n - n_val - n_test;
    nf_status st = take(m, idx, n_train, train);
    if (!st) st = take(m, idx + n_train, n_val, val);
    if (!st) st = take(m, idx + n_train + n_val, n_test, test);
    free(idx);
    if (st) {
        nf_matrix_free(train);
        nf_matrix_free(val);
        nf_matrix_free(test);
    }
    return st;
}
