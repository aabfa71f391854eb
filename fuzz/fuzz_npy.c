/* The .npy reader, whole and through a column list. */
#include <stdlib.h>

#include "fuzz_common.h"
#include "nflow.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_path(".npy");
    if (fuzz_write(path, data, size) != 0)
        return 0;
    nf_read_options opt;
    nf_read_options_default(&opt);
    nf_matrix m;
    nf_matrix_read(path, &opt, &m);
    nf_matrix_free(&m);
    opt.columns = "0,2-3";
    nf_matrix_read(path, &opt, &m);
    nf_matrix_free(&m);
    unlink(path);
    return 0;
}
