/* Class labels as a one-hot context: a conditional model hears a label
 * best as `classes` values of which one is 1 (a lone label column would
 * make class 9 "more" than class 1). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "data/labels.h"

static nf_status bad_label(const char *name, size_t r, float v, int classes)
{
    if (classes > 0)
        return nf_fail(NF_ERR_FORMAT, "%s: row %zu: label %g is not a class of the training labels (0 to %d)", name,
                       r, v, classes - 1);
    return nf_fail(NF_ERR_FORMAT, "%s: row %zu: label %g is not a whole number from 0 to %d", name, r, v,
                   NF_MAX_CONTEXT - 1);
}

nf_status labels_count(const float *labels, size_t rows, const char *name, int *classes)
{
    float top = -1;
    for (size_t r = 0; r < rows; r++) {
        float v = labels[r];
        if (!(v >= 0 && v < NF_MAX_CONTEXT && v == floorf(v)))
            return bad_label(name, r, v, 0);
        top = v > top ? v : top;
    }
    *classes = (int)top + 1;
    return NF_OK;
}

size_t labels_one_hot(const float *labels, size_t rows, int classes, float *code, size_t stride)
{
    for (size_t r = 0; r < rows; r++) {
        float v = labels[r];
        if (!(v >= 0 && v < classes && v == floorf(v)))
            return r;
        memset(code + r * stride, 0, sizeof(float) * (size_t)classes);
        code[r * stride + (size_t)v] = 1;
    }
    return rows;
}

nf_status labels_append(nf_matrix *m, const float *labels, int classes, const char *name)
{
    size_t cols = m->cols + (size_t)classes;
    float *v = malloc(sizeof(float) * (m->rows && cols ? m->rows * cols : 1));
    if (!v)
        return nf_fail(NF_ERR_NOMEM, "out of memory adding %d label columns to %zu rows", classes, m->rows);
    size_t bad = labels_one_hot(labels, m->rows, classes, v + m->cols, cols);
    if (bad < m->rows) {
        free(v);
        return bad_label(name, bad, labels[bad], classes);
    }
    for (size_t r = 0; r < m->rows; r++)
        memcpy(v + r * cols, m->values + r * m->cols, sizeof(float) * m->cols);
    size_t rows = m->rows;
    nf_matrix_free(m); /* the values may be a file's mapping */
    m->rows = rows;
    m->cols = cols;
    m->values = v;
    return NF_OK;
}
