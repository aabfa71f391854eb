/* The checkpoint reader: a model file with a train_state section, read
 * the way --resume reads it (options, model, then the loop's state checked
 * against the data). The data are 64 rows of banana, seed 1, as
 * `nflow toy banana --n 64 --seed 1` writes them: the seeds were trained on
 * them (fuzz/README.md), so mutations reach past the data checksums. */
#include <stdlib.h>

#include "extras/nflow_extras.h"
#include "fuzz_common.h"
#include "train/checkpoint.h"
#include "train/train_state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static float x[64 * 2];
    static int ready;
    if (!ready) {
        nf_toy_sample("banana", 64, 1, x);
        nf_set_threads(1);
        ready = 1;
    }
    const char *path = fuzz_path(".nfc");
    if (fuzz_write_model(path, data, size) != 0)
        return 0;
    nf_train_options opt;
    nf_train_options_default(&opt);
    nf_flow *f = NULL;
    if (nf_train_options_read(path, &opt) == NF_OK && nf_flow_load(&f, path) == NF_OK && nf_flow_dim(f) == 2) {
        train_state s;
        if (train_state_init(&s, f, x, 64, x, 64, &opt, 1) == NF_OK) {
            checkpoint_read(path, f, &s);
            train_state_free(&s);
        }
    }
    nf_flow_free(f);
    unlink(path);
    return 0;
}
