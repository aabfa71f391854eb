/* The CSV reader behind nf_matrix_read. */
#ifndef NF_DATA_CSV_H
#define NF_DATA_CSV_H

#include "data/columns.h"

nf_status dio_read_csv(const char *path, int header, const dio_colspec *cs, nf_matrix *out);

#endif
