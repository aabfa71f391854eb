/* The IDX reader (MNIST's format), plain and gzipped, whole and through a
 * column list. */
#include <stdlib.h>

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_read_data("-idx3-ubyte", data, size, -1, "0,2-3");
    return 0;
}
