/* The model reader (nf_flow_load) past the checksum, then what a loaded
 * model must survive: a description, a density and a few samples; the same
 * bytes from memory (nf_flow_load_bytes) must meet the same fate. */
#include <stdlib.h>

#include "fuzz_common.h"
#include "nflow.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_path(".nfm");
    if (fuzz_write_model(path, data, size) != 0)
        return 0;
    nf_flow *f = NULL, *g = NULL;
    nf_status st = nf_flow_load(&f, path);
    FILE *fp = fopen(path, "rb");
    unsigned char *bytes = fp ? malloc(size + 4096) : NULL; /* the frame adds 60 bytes */
    size_t n = bytes ? fread(bytes, 1, size + 4096, fp) : 0;
    if (fp)
        fclose(fp);
    if (bytes && (nf_flow_load_bytes(&g, bytes, n) == NF_OK) != (st == NF_OK))
        abort(); /* memory and file disagree */
    nf_flow_free(g);
    free(bytes);
    if (st == NF_OK) {
        char text[256];
        nf_flow_describe(f, text, sizeof text);
        int dim = nf_flow_dim(f);
        if (dim <= 64) {
            float x[4 * 64] = {0};
            double lp[4];
            for (int i = 0; i < 4 * dim; i++)
                x[i] = (float)(i % 7) - 3.0f;
            nf_flow_log_prob(f, x, 4, lp);
            nf_flow_sample(f, 4, 1, x, lp);
        }
        nf_flow_free(f);
    }
    unlink(path);
    return 0;
}
