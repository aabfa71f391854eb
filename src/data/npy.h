/* The .npy reader behind nf_matrix_read (memory-mapped where it can). */
#ifndef NF_DATA_NPY_H
#define NF_DATA_NPY_H

#include "data/columns.h"

/* image (NULL: not wanted): an N x H x W (x C) array's H, W, C; left as
 * it is for 1-D and 2-D ones. */
nf_status dio_read_npy(const char *path, const dio_colspec *cs, nf_matrix *out, int image[3]);

#endif
