/* The IDX reader behind nf_matrix_read: the format MNIST and
 * Fashion-MNIST ship in (train-images-idx3-ubyte, gzipped or not). */
#ifndef NF_DATA_IDX_H
#define NF_DATA_IDX_H

#include "data/columns.h"

/* Whether the file (gzipped or not) starts as an IDX file does: two zero
 * bytes, a known type code, 1 to 4 dimensions. */
int dio_is_idx(const char *path);
/* Rows: the first dimension; each row's values flattened (an image's H x
 * W pixels), as float32; the columns of cs. image (NULL: not wanted): a
 * 3-D or 4-D file's H, W and C (1 for 3-D). */
nf_status dio_read_idx(const char *path, const dio_colspec *cs, nf_matrix *out, int image[3]);

#endif
