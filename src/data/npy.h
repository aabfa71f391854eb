/* The .npy reader behind nf_matrix_read (memory-mapped where it can). */
#ifndef NF_DATA_NPY_H
#define NF_DATA_NPY_H

#include "data/columns.h"

nf_status dio_read_npy(const char *path, const dio_colspec *cs, nf_matrix *out);

#endif
