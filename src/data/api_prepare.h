/* nf_data: data prepared for training (src/data/api_prepare.c); the
 * training floor builds and fits models from it (src/train/api_fit.c). */
#ifndef NF_DATA_API_PREPARE_H
#define NF_DATA_API_PREPARE_H

#include <stddef.h>
#include <stdint.h>

#include "nflow.h"

struct nf_data {
    nf_matrix x[3], c[3];  /* per nf_part: x columns, context columns (c empty when unconditional) */
    int dim, context_dim;
    size_t n_cols;         /* of the data as read: dim + context_dim */
    int *context_flags;    /* n_cols flags, NULL when unconditional */
    char *context_columns; /* the list the model keeps; NULL when unconditional */
    double *lo, *hi;       /* bounds per column of x; NULL: none */
    int *integer;          /* n_cols flags: whole-numbered x columns */
    size_t n_integer;
    int dequantized;       /* the integer columns got U[0,1) noise (the option, or images) */
    char *columns;         /* the file's column list (NULL: all), to name file columns */
    char *name;            /* the training data's path, or "X" */
    int from_file;
    uint64_t seed;
    /* images (nf_data_image_shape): height, width, channels of each row
     * (the reader's shape, kept when every x value lies in [0, 256)); 0s: not images */
    int image[3];
    int label_classes;     /* the context is the one-hot code of class labels (0: not labels) */
};

/* The column of the file that x column xj (0-based) is, to name it. */
size_t data_file_column(const nf_data *d, size_t xj);

#endif
