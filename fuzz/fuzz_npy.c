/* The .npy reader, whole and through a column list. */
#include <stdlib.h>

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_read_data(".npy", data, size, -1, "0,2-3");
    return 0;
}
