/* The CSV reader: header detection, then with a header and a column list. */
#include <stdlib.h>

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_read_data(".csv", data, size, 1, "1-2,0");
    return 0;
}
