/* Integer-valued columns and their dequantisation (Theis, van den Oord and
 * Bethge 2016, "A note on the evaluation of generative models"): a column
 * of whole numbers has no density, and a flow fitted to it can raise its
 * likelihood without limit by narrowing onto the integers. Adding u ~
 * U[0, 1) to each value gives a continuous variable whose log-density is a
 * lower bound on the log-probability of the integers. */
#include <math.h>
#include <string.h>

#include "core/error.h"
#include "core/rng.h"

size_t nf_matrix_integer_columns(const nf_matrix *m, int *is_integer)
{
    size_t count = 0;
    for (size_t j = 0; j < m->cols; j++) {
        int whole = m->rows > 0;
        for (size_t r = 0; r < m->rows && whole; r++) {
            float v = m->values[r * m->cols + j];
            whole = v == rintf(v) && fabsf(v) < 16777216.0f; /* beyond 2^24 every float is whole */
        }
        is_integer[j] = whole;
        count += (size_t)whole;
    }
    return count;
}

nf_status nf_matrix_dequantize(nf_matrix *m, const int *columns, uint64_t seed)
{
    if (!m || !columns)
        return nf_fail(NF_ERR_INVALID, "NULL matrix or column list");
    rng r;
    rng_seed(&r, seed);
    for (size_t i = 0; i < m->rows; i++)
        for (size_t j = 0; j < m->cols; j++)
            if (columns[j])
                m->values[i * m->cols + j] += (float)rng_uniform(&r);
    return NF_OK;
}

nf_status nf_matrix_dequantize_part(nf_matrix *m, const int *columns, uint64_t seed, int part)
{
    if (part < 0 || part > 2)
        return nf_fail(NF_ERR_INVALID, "dequantisation part %d: 0 (the data), 1 (validation) or 2 (test)", part);
    /* "deq_trai": a stream apart from the split's (seed) and the model's */
    return nf_matrix_dequantize(m, columns, (seed ^ 0x6465715F74726169ull) + (uint64_t)part);
}
