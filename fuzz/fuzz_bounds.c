/* Bounds written as text (nf_data_options.bounds, `nflow train --bounds`):
 * any text, against 8 columns of which column 5 is a context column. */
#include <stdlib.h>

#include "fuzz_common.h"
#include "data/bounds_spec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_text(data, size);
    if (!text)
        return 0;
    const int context[8] = {0, 0, 0, 0, 0, 1, 0, 0};
    double lo[8], hi[8];
    bounds_spec_resolve(text, 8, context, lo, hi);
    free(text);
    return 0;
}
