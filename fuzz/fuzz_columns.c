/* The column lists of --columns ("0-9", "1,3,5-7"): any text. */
#include <stdlib.h>

#include "fuzz_common.h"
#include "data/columns.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_text(data, size);
    if (!text)
        return 0;
    dio_colspec cs;
    if (dio_colspec_parse("fuzz", text, &cs) == NF_OK)
        dio_colspec_free(&cs);
    free(text);
    return 0;
}
