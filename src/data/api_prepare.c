/* Data prepared as `nflow train` prepares it (nf_data_read,
 * nf_data_from_arrays): the context split from x, whole-numbered columns
 * found and dequantised, rows checked against their bounds, validation and
 * test rows split off. One recipe for the tool, Python and C programs. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/error.h"
#include "core/sized.h"
#include "core/text.h"
#include "data/bounds_spec.h"
#include "data/api_prepare.h"
#include "data/api_read.h"
#include "data/labels.h"
#include "data/png_folder.h"

void nf_data_options_init(nf_data_options *caller, size_t struct_size)
{
    nf_data_options o;
    memset(&o, 0, sizeof o);
    o.val_fraction = o.test_fraction = 0.1;
    o.seed = 1;
    sized_write(caller, struct_size, &o, sizeof o);
}

void nf_data_free(nf_data *d)
{
    if (!d)
        return;
    for (int k = 0; k < 3; k++) {
        nf_matrix_free(&d->x[k]);
        nf_matrix_free(&d->c[k]);
    }
    free(d->context_flags);
    free(d->context_columns);
    free(d->lo);
    free(d->hi);
    free(d->integer);
    free(d->columns);
    free(d->name);
    free(d);
}

static char *copy_text(const char *s)
{
    char *c = s ? malloc(strlen(s) + 1) : NULL;
    return c ? strcpy(c, s) : NULL;
}

size_t data_file_column(const nf_data *d, size_t xj)
{
    size_t j = 0;
    for (size_t seen = 0; j < d->n_cols; j++) /* x column xj among the columns as read */
        if (!(d->context_flags && d->context_flags[j]) && seen++ == xj)
            break;
    size_t col = j;
    return nf_column_of(d->columns, j, &col) == NF_OK ? col : j;
}

/* The context columns: flags from the list, checked against the widths. */
static nf_status context_layout(nf_data *d, const char *list, const nf_data_options *o)
{
    if (!list) {
        if (o->context_dim > 0)
            return nf_fail(NF_ERR_INVALID, "context columns: the model takes %d context values; none are named",
                           o->context_dim);
        return NF_OK;
    }
    if (!(d->context_flags = malloc(sizeof(int) * d->n_cols)) || !(d->context_columns = copy_text(list)))
        return nf_fail(NF_ERR_NOMEM, "out of memory");
    if (!*list)
        return nf_fail(NF_ERR_INVALID, "context columns '': names no column");
    if (nf_column_flags(list, d->n_cols, d->context_flags)) {
        char why[256]; /* nf_fail writes where nf_last_error reads */
        snprintf(why, sizeof why, "%s", nf_last_error());
        return nf_fail(NF_ERR_INVALID, "context columns '%.100s': %s", list, why);
    }
    size_t n = 0;
    for (size_t j = 0; j < d->n_cols; j++)
        n += d->context_flags[j] != 0;
    if (n == 0)
        return nf_fail(NF_ERR_INVALID, "context columns '%.100s' name no column", list);
    if (n == d->n_cols)
        return nf_fail(NF_ERR_INVALID, "context columns '%.100s' name all %zu columns of the data: at least one "
                                       "must remain for x", list, d->n_cols);
    if (o->context_dim > 0 && n != (size_t)o->context_dim)
        return nf_fail(NF_ERR_INVALID, "context columns '%.100s' name %zu column%s of %zu, the model takes %d "
                                       "context values (and %d of x)", list, n, n == 1 ? "" : "s", d->n_cols,
                       o->context_dim, o->dim);
    d->context_dim = (int)n;
    return NF_OK;
}

static nf_status bounds_of(nf_data *d, const nf_data_options *o)
{
    if (!o->bounds && !o->lo && !o->hi)
        return NF_OK;
    if (o->bounds && (o->lo || o->hi))
        return nf_fail(NF_ERR_INVALID, "bounds: give the text or the lo and hi arrays, not both");
    if (!(d->lo = malloc(sizeof(double) * d->n_cols)) || !(d->hi = malloc(sizeof(double) * d->n_cols)))
        return nf_fail(NF_ERR_NOMEM, "out of memory");
    if (o->bounds)
        return bounds_spec_resolve(o->bounds, d->n_cols, d->context_flags, d->lo, d->hi);
    for (int j = 0; j < d->dim; j++) {
        d->lo[j] = o->lo ? o->lo[j] : NAN;
        d->hi[j] = o->hi ? o->hi[j] : NAN;
        if (!isnan(d->lo[j]) && !isnan(d->hi[j]) && !(d->lo[j] < d->hi[j]))
            return nf_fail(NF_ERR_INVALID, "bounds: column %d: the lower bound %g is not below the upper bound %g", j,
                           d->lo[j], d->hi[j]);
    }
    return NF_OK;
}

/* Whether the rows read as images (the reader's shape, d->image) are 8-bit
 * pixels: every x value of every part in [0, 256), the shape's size the
 * x columns'. */
static int images_of(const nf_data *d, const nf_matrix *all, const nf_matrix extra[2])
{
    if ((size_t)d->image[0] * d->image[1] * d->image[2] != (size_t)d->dim)
        return 0;
    const nf_matrix *m[3] = {all, &extra[0], &extra[1]};
    for (int k = 0; k < 3; k++)
        for (size_t i = 0; i < m[k]->rows * m[k]->cols; i++)
            if (!(d->context_flags && d->context_flags[i % m[k]->cols]) &&
                !(m[k]->values[i] >= 0 && m[k]->values[i] < 256))
                return 0;
    return 1;
}

/* RealNVP's preprocessing of pixels in [0, 256): y = logit(a + (1 - 2a)
 * x / 256) with a = 0.05, which is the bounds layer's log(x - lo) -
 * log(hi - x) on (lo, hi) = (-256 a / (1 - 2a), 256 + 256 a / (1 - 2a)):
 * the map and its Jacobian are then the model's first layer. */
static nf_status image_bounds(nf_data *d)
{
    const double a = 0.05, margin = 256 * a / (1 - 2 * a);
    if (!(d->lo = malloc(sizeof(double) * d->n_cols)) || !(d->hi = malloc(sizeof(double) * d->n_cols)))
        return nf_fail(NF_ERR_NOMEM, "out of memory");
    for (size_t j = 0; j < d->n_cols; j++) {
        d->lo[j] = -margin;
        d->hi[j] = 256 + margin;
    }
    return NF_OK;
}

int nf_data_image_shape(const nf_data *d, int shape[3])
{
    for (int k = 0; shape && k < 3; k++)
        shape[k] = d ? d->image[k] : 0;
    return d && d->image[0] > 0;
}

/* Every x value of m (all columns as read) strictly inside its bounds;
 * NaN is an open side. */
static nf_status check_bounds(const nf_data *d, const nf_matrix *m, const char *name)
{
    for (size_t r = 0; d->lo && r < m->rows; r++)
        for (size_t j = 0, xj = 0; j < m->cols; j++) {
            if (d->context_flags && d->context_flags[j])
                continue;
            double v = m->values[r * m->cols + j], lo = d->lo[xj], hi = d->hi[xj];
            lo = isnan(lo) ? -INFINITY : lo; /* NaN: open */
            hi = isnan(hi) ? INFINITY : hi;
            if (!(v > lo && v < hi))
                return nf_fail(NF_ERR_FORMAT, "%s: row %zu (0-based%s), column %zu: %.9g is not strictly inside its "
                                              "bounds (%g, %g); a density on the open interval is 0 on a bound: "
                                              "widen the bound or move the value inside",
                               name, r, d->from_file ? ", a header not counted" : "", data_file_column(d, xj), v, lo,
                               hi);
            xj++;
        }
    return NF_OK;
}

/* Splits m's columns into x and the context c (new matrices). */
static nf_status split_columns(const nf_data *d, const nf_matrix *m, nf_matrix *x, nf_matrix *c)
{
    size_t nc = (size_t)d->context_dim, nx = m->cols - nc;
    x->rows = c->rows = m->rows;
    x->cols = nx;
    c->cols = nc;
    if (!m->rows)
        return NF_OK;
    if (!(x->values = malloc(sizeof(float) * m->rows * nx)) || !(c->values = malloc(sizeof(float) * m->rows * nc)))
        return nf_fail(NF_ERR_NOMEM, "out of memory splitting %zu rows into x and context", m->rows);
    for (size_t r = 0; r < m->rows; r++) {
        const float *row = m->values + r * m->cols;
        float *xr = x->values + r * nx, *cr = c->values + r * nc;
        for (size_t j = 0; j < m->cols; j++)
            if (d->context_flags[j])
                *cr++ = row[j];
            else
                *xr++ = row[j];
    }
    return NF_OK;
}

/* Splits off validation and test rows (unless given apart: given[k]) and
 * checks each part split off has 2 rows at least. Moves *all. */
static nf_status split_rows(nf_data *d, nf_matrix *all, const int given[2], const nf_data_options *o,
                            nf_matrix part[3])
{
    double vf = given[0] ? 0 : o->val_fraction, tf = given[1] ? 0 : o->test_fraction;
    if (!(vf >= 0 && tf >= 0 && vf + tf < 1))
        return nf_fail(NF_ERR_INVALID, "split fractions %g and %g must be >= 0 and sum to less than 1", vf, tf);
    if (vf == 0 && tf == 0) { /* nothing to split off: the rows as they are (a .npy stays mapped) */
        part[0] = *all;
        memset(all, 0, sizeof *all);
        return NF_OK;
    }
    size_t n = all->rows;
    nf_status st = nf_matrix_split(all, vf, tf, d->seed, &part[0], &part[1], &part[2]);
    if (st == NF_OK && !((vf > 0 && part[1].rows < 2) || (tf > 0 && part[2].rows < 2)))
        return NF_OK;
    for (int k = 0; k < 3; k++)
        nf_matrix_free(&part[k]);
    char what[96];
    if (vf > 0 && tf > 0)
        snprintf(what, sizeof what, "%g%% validation and %g%% test rows (at least 2 each)", 100 * vf, 100 * tf);
    else
        snprintf(what, sizeof what, "%g%% %s rows (at least 2)", 100 * (vf > 0 ? vf : tf),
                 vf > 0 ? "validation" : "test");
    return nf_fail(NF_ERR_FORMAT, "%s: %zu rows are too few to split off %s; give more rows, or validation and "
                                  "test rows apart", d->name, n, what);
}

/* The recipe on the data as read (all: consumed) and the parts given
 * apart (extra[k] with extra_names[k]; rows 0: not given). */
static nf_status prepare(nf_data *d, nf_matrix *all, nf_matrix extra[2], const char *const extra_names[2],
                         const char *context_list, const nf_data_options *o)
{
    d->n_cols = all->cols;
    d->seed = o->seed;
    if (o->dim > 0 && all->cols != (size_t)o->dim + (size_t)(o->context_dim > 0 ? o->context_dim : 0)) {
        if (o->context_dim > 0)
            return nf_fail(NF_ERR_DIMENSION, "%s: %zu columns, the model expects %d (%d of x and %d of context)",
                           d->name, all->cols, o->dim + o->context_dim, o->dim, o->context_dim);
        return nf_fail(NF_ERR_DIMENSION, "%s: %zu columns, the model expects %d", d->name, all->cols, o->dim);
    }
    nf_status st = context_layout(d, context_list, o);
    if (st)
        return st;
    d->dim = (int)(d->n_cols - (size_t)d->context_dim);
    if (d->image[0] && !images_of(d, all, extra))
        memset(d->image, 0, sizeof d->image);
    if ((st = d->image[0] && !o->bounds && !o->lo && !o->hi ? image_bounds(d) : bounds_of(d, o)))
        return st;
    if (!(d->integer = malloc(sizeof(int) * d->n_cols)))
        return nf_fail(NF_ERR_NOMEM, "out of memory");
    d->n_integer = nf_matrix_integer_columns(all, d->integer);
    for (size_t j = 0; d->context_flags && j < d->n_cols; j++) /* a whole-numbered context (a label) is fine */
        if (d->context_flags[j] && d->integer[j]) {
            d->integer[j] = 0;
            d->n_integer--;
        }
    int dequantize = d->dequantized = o->dequantize || d->image[0]; /* images: always, as the papers do */
    if (d->n_integer && dequantize && (st = nf_matrix_dequantize_part(all, d->integer, d->seed, 0)))
        return st;
    if ((st = check_bounds(d, all, d->name)))
        return st;
    nf_matrix part[3] = {{0}};
    const int given[2] = {extra[0].rows > 0, extra[1].rows > 0};
    if ((st = split_rows(d, all, given, o, part)))
        return st;
    for (int k = 0; k < 2 && !st; k++) {
        if (!given[k])
            continue;
        if (extra[k].cols != d->n_cols)
            st = nf_fail(NF_ERR_DIMENSION, "%s: %zu columns, the training data %s has %zu", extra_names[k],
                         extra[k].cols, d->name, d->n_cols);
        else if (d->n_integer && dequantize) /* the training data's columns, noise of their own */
            st = nf_matrix_dequantize_part(&extra[k], d->integer, d->seed, 1 + k);
        if (!st)
            st = check_bounds(d, &extra[k], extra_names[k]);
        if (!st) {
            nf_matrix_free(&part[1 + k]);
            part[1 + k] = extra[k];
            memset(&extra[k], 0, sizeof extra[k]);
        }
    }
    for (int k = 0; k < 3; k++) {
        if (!st && d->context_flags)
            st = split_columns(d, &part[k], &d->x[k], &d->c[k]);
        if (!st && !d->context_flags) {
            d->x[k] = part[k];
            memset(&part[k], 0, sizeof part[k]);
        }
        nf_matrix_free(&part[k]);
    }
    return st;
}

static nf_status start(nf_data **out, const nf_data_options *caller, nf_data_options *o, const char *name)
{
    nf_status st;
    if (!out)
        return nf_fail(NF_ERR_INVALID, "nf_data: NULL out");
    *out = NULL;
    nf_data_options_default(o);
    if ((st = sized_read(o, sizeof *o, DATA_OPTIONS_SIZE_1, caller, "nf_data_options")))
        return st;
    nf_data *d = calloc(1, sizeof *d);
    if (!d || !(d->name = copy_text(name)) || (o->columns && !(d->columns = copy_text(o->columns)))) {
        nf_data_free(d);
        return nf_fail(NF_ERR_NOMEM, "out of memory");
    }
    *out = d;
    return NF_OK;
}

/* The column list of `classes` label columns appended after `cols`. */
static void label_list(size_t cols, int classes, char *list, size_t size)
{
    if (classes == 1)
        snprintf(list, size, "%zu", cols);
    else
        snprintf(list, size, "%zu-%zu", cols, cols + (size_t)classes - 1);
}

/* One label per row of the file `data`, read from `path`. */
static nf_status read_labels(const char *path, const char *data, size_t rows, nf_matrix *labels)
{
    struct stat sb; /* a folder of class subfolders: each image's class */
    nf_status st = stat(path, &sb) == 0 && S_ISDIR(sb.st_mode) ? dio_read_png_folder_labels(path, labels)
                                                                 : nf_matrix_read(path, NULL, labels);
    if (!st && labels->cols != 1)
        st = nf_fail(NF_ERR_FORMAT, "%s: %zu values per row; a labels file holds one label per row", path,
                     labels->cols);
    if (!st && labels->rows != rows)
        st = nf_fail(NF_ERR_FORMAT, "%s: %zu labels for the %zu rows of %s", path, labels->rows, rows, data);
    return st;
}

/* Label files: their one-hot codes appended to the rows of each part
 * (the list of those columns into list). */
static nf_status with_label_files(nf_data *d, const nf_data_options *o, const char *path, const char *const names[2],
                                  nf_matrix *all, nf_matrix extra[2], char *list, size_t size)
{
    if (o->context_columns)
        return nf_fail(NF_ERR_INVALID, "labels and context columns: the context is one or the other");
    if (!o->label_files[0])
        return nf_fail(NF_ERR_INVALID, "labels of validation or test rows, but none of the training rows (%s)",
                       path);
    for (int k = 0; k < 2; k++)
        if (!names[k] != !o->label_files[1 + k])
            return nf_fail(NF_ERR_INVALID, names[k] ? "%s: the %s rows need their labels too (the training rows have "
                                                      "labels)"
                                                    : "%s: labels of %s rows that are not given apart",
                           names[k] ? names[k] : o->label_files[1 + k], k ? "test" : "validation");
    nf_matrix labels[3] = {{0}};
    const nf_matrix *parts[3] = {all, &extra[0], &extra[1]};
    const char *data[3] = {path, names[0], names[1]};
    nf_status st = NF_OK;
    for (int k = 0; k < 3 && !st; k++)
        if (o->label_files[k])
            st = read_labels(o->label_files[k], data[k], parts[k]->rows, &labels[k]);
    int classes = o->label_classes;
    if (!st && classes <= 0)
        st = labels_count(labels[0].values, labels[0].rows, o->label_files[0], &classes);
    if (!st && (classes < 1 || classes > NF_MAX_CONTEXT))
        st = nf_fail(NF_ERR_INVALID, "label classes %d out of range 1..%d", classes, NF_MAX_CONTEXT);
    if (!st)
        label_list(all->cols, classes, list, size);
    nf_matrix *grow[3] = {all, &extra[0], &extra[1]};
    for (int k = 0; k < 3 && !st; k++)
        if (o->label_files[k])
            st = labels_append(grow[k], labels[k].values, classes, o->label_files[k]);
    for (int k = 0; k < 3; k++)
        nf_matrix_free(&labels[k]);
    d->label_classes = st ? 0 : classes;
    return st;
}

nf_status nf_data_read(nf_data **out, const char *path, const char *val_path, const char *test_path,
                       const nf_data_options *caller)
{
    nf_data_options o;
    if (!path)
        return nf_fail(NF_ERR_INVALID, "nf_data_read: NULL path");
    nf_status st = start(out, caller, &o, path);
    if (st)
        return st;
    (*out)->from_file = 1;
    nf_read_options ro;
    nf_read_options_default(&ro);
    ro.columns = o.columns;
    nf_matrix all = {0}, extra[2] = {{0}};
    const char *const names[2] = {val_path, test_path};
    st = dio_matrix_read(path, &ro, &all, (*out)->image);
    for (int k = 0; k < 2 && !st; k++)
        if (names[k] && !(st = nf_matrix_read(names[k], &ro, &extra[k])) && extra[k].rows == 0)
            st = nf_fail(NF_ERR_FORMAT, "%s: no rows", names[k]);
    char list[48];
    const char *context_list = o.context_columns;
    if (!st && (o.label_files[0] || o.label_files[1] || o.label_files[2])) {
        st = with_label_files(*out, &o, path, names, &all, extra, list, sizeof list);
        context_list = list;
    }
    if (!st)
        st = prepare(*out, &all, extra, names, context_list, &o);
    if (!st && (*out)->label_classes) { /* the model keeps the labels' count instead */
        free((*out)->context_columns);
        (*out)->context_columns = NULL;
    }
    nf_matrix_free(&all);
    nf_matrix_free(&extra[0]);
    nf_matrix_free(&extra[1]);
    if (st) {
        nf_data_free(*out);
        *out = NULL;
    }
    return st;
}

/* rows x (dim + nc) of [x | c] (a copy), as a file with the context last. */
static nf_status join(const float *x, const float *c, size_t rows, int dim, int nc, nf_matrix *m)
{
    size_t w = (size_t)dim + (size_t)nc;
    m->rows = rows;
    m->cols = w;
    if (!(m->values = malloc(sizeof(float) * (rows && w ? rows * w : 1))))
        return nf_fail(NF_ERR_NOMEM, "out of memory copying %zu rows", rows);
    for (size_t r = 0; r < rows; r++) {
        memcpy(m->values + r * w, x + r * (size_t)dim, sizeof(float) * (size_t)dim);
        if (nc)
            memcpy(m->values + r * w + dim, c + r * (size_t)nc, sizeof(float) * (size_t)nc);
    }
    return NF_OK;
}

nf_status nf_data_from_arrays(nf_data **out, const float *x, const float *context, size_t rows, int dim,
                              int context_dim, const float *val, const float *val_context, size_t val_rows,
                              const nf_data_options *caller)
{
    nf_data_options o;
    if (!x || dim < 1 || dim > NF_MAX_DIM || context_dim < 0 || context_dim > NF_MAX_CONTEXT ||
        (context_dim && !context) || (val_rows && (!val || (context_dim && !val_context))))
        return nf_fail(NF_ERR_INVALID, "nf_data_from_arrays: NULL arrays or widths out of range (dim %d, context %d)",
                       dim, context_dim);
    nf_status st = start(out, caller, &o, "X");
    if (st)
        return st;
    const int *shape = o.image_shape;
    if (shape[0] || shape[1] || shape[2]) {
        if (shape[0] < 1 || shape[1] < 1 || shape[2] < 1 || (double)shape[0] * shape[1] * shape[2] != dim) {
            nf_data_free(*out);
            *out = NULL;
            return nf_fail(NF_ERR_INVALID, "X: images of %d x %d x %d are not rows of %d values", shape[0], shape[1],
                           shape[2], dim);
        }
        memcpy((*out)->image, shape, sizeof (*out)->image);
    }
    int classes = o.label_classes; /* > 0: the one context column holds class labels, coded one-hot */
    if (classes < 0 && context_dim == 1) { /* < 0: as many classes as the training labels say */
        if ((st = labels_count(context, rows, "labels", &classes))) {
            nf_data_free(*out);
            *out = NULL;
            return st;
        }
        classes = classes ? classes : 1;
    }
    if (classes != 0 && (context_dim != 1 || classes < 0 || classes > NF_MAX_CONTEXT)) {
        nf_data_free(*out);
        *out = NULL;
        return nf_fail(NF_ERR_INVALID, "label classes %d: the context must be one column of labels (it has %d) and "
                       "the classes at most %d", classes, context_dim, NF_MAX_CONTEXT);
    }
    int joined = classes > 0 ? 0 : context_dim;
    char list[48]; /* [x | c]: the context is the last context_dim columns */
    label_list((size_t)dim, classes > 0 ? classes : context_dim, list, sizeof list);
    o.columns = NULL;
    nf_matrix all = {0}, extra[2] = {{0}};
    const char *const names[2] = {"X_val", NULL};
    st = join(x, context, rows, dim, joined, &all);
    if (!st && val_rows)
        st = join(val, val_context, val_rows, dim, joined, &extra[0]);
    if (!st && classes > 0 && !(st = labels_append(&all, context, classes, "labels")) && val_rows)
        st = labels_append(&extra[0], val_context, classes, "labels of X_val");
    if (!st && classes > 0)
        o.context_dim = o.context_dim > 0 ? classes : 0; /* a trained model's width is the code's */
    if (!st)
        st = prepare(*out, &all, extra, names, context_dim ? list : NULL, &o);
    if (!st && classes > 0) {
        (*out)->label_classes = classes;
        free((*out)->context_columns);
        (*out)->context_columns = NULL;
    }
    if (!st && shape[0] && !(*out)->image[0])
        st = nf_fail(NF_ERR_FORMAT, "X: image values must lie in [0, 256) (8-bit pixels, or floats below 256)");
    nf_matrix_free(&all);
    nf_matrix_free(&extra[0]);
    if (st) {
        nf_data_free(*out);
        *out = NULL;
    }
    return st;
}

size_t nf_data_rows(const nf_data *d, nf_part part, const float **x, const float **context)
{
    int ok = d && (unsigned)part < 3;
    if (x)
        *x = ok ? d->x[part].values : NULL;
    if (context)
        *context = ok && d->context_dim ? d->c[part].values : NULL;
    return ok ? d->x[part].rows : 0;
}

int nf_data_dim(const nf_data *d) { return d ? d->dim : 0; }

int nf_data_context_dim(const nf_data *d) { return d ? d->context_dim : 0; }

int nf_data_label_classes(const nf_data *d) { return d ? d->label_classes : 0; }

size_t nf_data_integer_columns(const nf_data *d, char *list, size_t size)
{
    if (!d)
        return 0;
    size_t used = 0, shown = 0;
    if (list && size)
        list[0] = '\0';
    for (size_t j = 0, xj = 0; list && size && j < d->n_cols; j++) {
        if (d->context_flags && d->context_flags[j])
            continue;
        if (d->integer[j]) {
            char item[32];
            snprintf(item, sizeof item, "%s%zu", shown++ ? ", " : "", data_file_column(d, xj));
            if (used + strlen(item) + 5 > size) {
                snprintf(list + used, size - used, "%s", used + 5 <= size ? ", ..." : "");
                break;
            }
            used += (size_t)snprintf(list + used, size - used, "%s", item);
        }
        xj++;
    }
    return d->n_integer;
}

size_t nf_data_warning(const nf_data *d, char *buf, size_t size)
{
    text t;
    text_init(&t, buf, size);
    char list[128];
    if (!d || !d->n_integer || d->dequantized)
        return 0;
    nf_data_integer_columns(d, list, sizeof list);
    text_add(&t, "%zu of %d%s columns hold only whole numbers (%s): a flow can raise its likelihood without limit "
                 "by narrowing onto them", d->n_integer, d->dim, d->context_dim ? " x" : "", list);
    return t.len;
}

size_t nf_data_note(const nf_data *d, char *buf, size_t size)
{
    text t;
    text_init(&t, buf, size);
    if (d && d->image[0]) /* dequantised whatever the option, as the papers do */
        text_add(&t, "images of %d x %d x %d: dequantised (U[0,1) noise), then RealNVP's logit (alpha 0.05) as the "
                     "model's first layer", d->image[0], d->image[1], d->image[2]);
    else if (d && d->n_integer && d->dequantized)
        text_add(&t, "dequantised %zu integer-valued column%s of %d%s (U[0,1) noise)", d->n_integer,
                 d->n_integer == 1 ? "" : "s", d->dim, d->context_dim ? " x" : "");
    return t.len;
}

size_t nf_data_file_column(const nf_data *d, int j)
{
    return d && j >= 0 ? data_file_column(d, (size_t)j) : 0;
}
