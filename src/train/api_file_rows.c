/* Rows in the layout of a model's data files: what `nflow sample`,
 * `encode` and `decode` write, for any program (the context back in its
 * columns, or x then the class of a model of labels). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "data/api_prepare.h"
#include "flow/flow.h"

/* m as rows x cols of uninitialised floats (at least one, so that no rows
 * is not a failed malloc). */
static nf_status matrix_alloc(nf_matrix *m, size_t rows, size_t cols)
{
    memset(m, 0, sizeof *m);
    if (cols && rows > SIZE_MAX / sizeof(float) / cols)
        return nf_fail(NF_ERR_NOMEM, "%zu rows of %zu values: too many", rows, cols);
    m->values = malloc(sizeof(float) * (rows && cols ? rows * cols : 1));
    if (!m->values)
        return nf_fail(NF_ERR_NOMEM, "out of memory for %zu rows of %zu values", rows, cols);
    m->rows = rows;
    m->cols = cols;
    return NF_OK;
}

nf_status nf_flow_labels_of_list(const nf_flow *f, const char *list, nf_matrix *labels)
{
    if (!f || !list || !labels)
        return nf_fail(NF_ERR_INVALID, "nf_flow_labels_of_list: NULL argument");
    memset(labels, 0, sizeof *labels);
    int k = f->record.label_classes;
    if (!k)
        return nf_fail(NF_ERR_INVALID, "the model was not trained on class labels");
    size_t n = 0, c;
    while (nf_column_of(list, n, &c) == NF_OK && c < (size_t)k)
        n++;
    if (n == 0 || nf_column_of(list, n, &c) == NF_OK) /* malformed, or a class beyond the model's */
        return nf_fail(NF_ERR_INVALID, "'%.100s': give classes from 0 to %d, as 3 or 0-%d, comma-separated", list,
                       k - 1, k - 1);
    nf_status st = matrix_alloc(labels, n, 1);
    for (size_t i = 0; !st && i < n; i++)
        labels->values[i] = nf_column_of(list, i, &c) == NF_OK ? (float)c : 0;
    return st;
}

/* The context rows of `given` (class labels as their one-hot code), each
 * repeated n times: rows i*n .. i*n+n-1 take row i. */
static nf_status repeat_context(const nf_flow *f, const float *given, size_t given_rows, size_t n, float *context)
{
    size_t nc = (size_t)f->context_dim;
    for (size_t i = 0; i < given_rows; i++) {
        float *first = context + i * n * nc;
        nf_status st = f->record.label_classes ? nf_flow_context_of_labels(f, given + i, 1, first)
                                               : (memcpy(first, given + i * nc, sizeof(float) * nc), NF_OK);
        if (st)
            return st;
        for (size_t r = 1; r < n; r++)
            memcpy(first + r * nc, first, sizeof(float) * nc);
    }
    return NF_OK;
}

/* x (rows x dim) with the given columns as the model's files hold them:
 * the context merged into `context_columns` (NULL: the model's list, else
 * the last columns), or the class after x for a model of labels (`per`
 * rows share a label of `given`). */
static nf_status lay_out(const nf_flow *f, const float *x, const float *context, const float *given, size_t rows,
                         size_t per, const char *context_columns, nf_matrix *out)
{
    size_t dim = (size_t)f->dim, classes = (size_t)f->record.label_classes;
    size_t width = dim + (classes ? 1 : (size_t)f->context_dim);
    nf_status st = matrix_alloc(out, rows, width);
    if (st || !f->context_dim) {
        if (!st)
            memcpy(out->values, x, sizeof(float) * rows * dim);
        return st;
    }
    if (!classes)
        return nf_columns_merge(x, f->dim, context, f->context_dim, rows,
                                context_columns ? context_columns : f->context_columns, out->values);
    for (size_t r = 0; r < rows; r++) {
        memcpy(out->values + r * width, x + r * dim, sizeof(float) * dim);
        out->values[r * width + dim] = given[r / per];
    }
    return NF_OK;
}

nf_status nf_flow_sample_rows(nf_flow *f, const float *given, size_t given_rows, size_t n, uint64_t seed,
                              double temperature, nf_matrix *rows_out, nf_matrix *x_out, double **log_prob)
{
    nf_matrix x = {0};
    float *context = NULL;
    if (rows_out)
        memset(rows_out, 0, sizeof *rows_out);
    if (x_out)
        memset(x_out, 0, sizeof *x_out);
    if (log_prob)
        *log_prob = NULL;
    if (!f || (given_rows && !given) || n < 1)
        return nf_fail(NF_ERR_INVALID, "nf_flow_sample_rows: NULL argument or no samples asked for");
    if (!f->context_dim != !given_rows)
        return nf_fail(NF_ERR_INVALID, f->context_dim ? "the model is conditional: give its context rows"
                                                      : "the model is not conditional: it takes no context");
    size_t rows = f->context_dim ? given_rows * n : n;
    if (f->context_dim && rows / n != given_rows)
        return nf_fail(NF_ERR_INVALID, "%zu context rows x %zu samples: too many", given_rows, n);
    /* an unconditional model's rows are its x: drawn in place, not copied */
    nf_matrix *drawn = !f->context_dim && rows_out ? rows_out : &x;
    nf_status st = matrix_alloc(drawn, rows, (size_t)f->dim);
    if (!st && f->context_dim && rows > SIZE_MAX / sizeof(float) / (size_t)f->context_dim)
        st = nf_fail(NF_ERR_NOMEM, "%zu rows of context: too many", rows);
    if (!st && f->context_dim && !(context = malloc(sizeof(float) * rows * (size_t)f->context_dim)))
        st = nf_fail(NF_ERR_NOMEM, "out of memory for %zu rows of context", rows);
    if (!st && log_prob && !(*log_prob = malloc(sizeof(double) * rows)))
        st = nf_fail(NF_ERR_NOMEM, "out of memory for %zu log-densities", rows);
    if (!st && context)
        st = repeat_context(f, given, given_rows, n, context);
    if (!st)
        st = nf_flow_sample_tempered(f, context, rows, seed, temperature, drawn->values, log_prob ? *log_prob : NULL);
    if (!st && rows_out && drawn != rows_out)
        st = lay_out(f, x.values, context, given, rows, n, NULL, rows_out);
    if (!st && x_out && drawn == rows_out) /* both asked for: x a copy of the rows */
        st = lay_out(f, rows_out->values, NULL, NULL, rows, n, NULL, &x);
    free(context);
    if (!st && x_out)
        *x_out = x;
    else
        nf_matrix_free(&x);
    if (st) {
        if (rows_out)
            nf_matrix_free(rows_out);
        if (log_prob) {
            free(*log_prob);
            *log_prob = NULL;
        }
    }
    return st;
}

nf_status nf_data_code(nf_flow *f, const nf_data *d, int decode, nf_matrix *out)
{
    if (!out)
        return nf_fail(NF_ERR_INVALID, "nf_data_code: NULL argument");
    memset(out, 0, sizeof *out);
    if (!f || !d)
        return nf_fail(NF_ERR_INVALID, "nf_data_code: NULL argument");
    if (d->dim != f->dim || d->context_dim != f->context_dim)
        return nf_fail(NF_ERR_DIMENSION, "the data have %d + %d columns, the model takes %d + %d", d->dim,
                       d->context_dim, f->dim, f->context_dim);
    const nf_matrix *x = &d->x[NF_PART_TRAIN], *c = &d->c[NF_PART_TRAIN];
    const float *context = f->context_dim ? c->values : NULL;
    nf_matrix coded;
    nf_status st = matrix_alloc(&coded, x->rows, (size_t)f->dim);
    if (!st)
        st = decode ? nf_flow_decode_given(f, x->values, context, x->rows, coded.values)
                    : nf_flow_encode_given(f, x->values, context, x->rows, coded.values);
    int keep_context = f->context_dim && !f->record.label_classes; /* labels: the codes alone */
    if (!st && !keep_context) {
        *out = coded;
        return NF_OK;
    }
    if (!st) /* the context back in its columns */
        st = lay_out(f, coded.values, context, NULL, x->rows, 1, d->context_columns, out);
    nf_matrix_free(&coded);
    return st;
}
