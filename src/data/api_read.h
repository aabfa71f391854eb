/* The matrix reader's entry for the data recipe (src/data/api_prepare.c). */
#ifndef NF_DATA_API_READ_H
#define NF_DATA_API_READ_H

#include "nflow.h"

/* nf_matrix_read, and image (NULL: not wanted) gets the height, width and
 * channels of a file of images (N x H x W (x C) .npy or IDX, read whole),
 * zeros otherwise. */
nf_status dio_matrix_read(const char *path, const nf_read_options *opt, nf_matrix *out, int image[3]);

#endif
