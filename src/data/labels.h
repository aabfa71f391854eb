/* Class labels as a one-hot context (nf_data_options.label_files,
 * label_classes): the checks and the code, for files and arrays alike. */
#ifndef NF_DATA_LABELS_H
#define NF_DATA_LABELS_H

#include <stddef.h>

#include "nflow.h"

/* The largest of rows labels + 1, the labels checked as whole numbers from
 * 0 to NF_MAX_CONTEXT - 1; messages name the labels `name` by row. */
nf_status labels_count(const float *labels, size_t rows, const char *name, int *classes);
/* The one-hot code of rows labels, `classes` values a row, row r at
 * code + r stride; returns rows, or the first row whose label is not a
 * whole number below classes (the rows before it written). */
size_t labels_one_hot(const float *labels, size_t rows, int classes, float *code, size_t stride);
/* m grows by `classes` columns holding the one-hot code of its rows'
 * labels (rows of m, each a whole number below classes). */
nf_status labels_append(nf_matrix *m, const float *labels, int classes, const char *name);

#endif
