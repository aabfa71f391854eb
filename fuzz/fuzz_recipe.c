/* The recipe's options by name (`nflow train`'s model and training flags,
 * Python's keywords): any text as lines of NAME=VALUE set in a recipe,
 * then resolved against a small data set and applied to a configuration. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"

/* 64 rows of 3 columns, made once (kept for the process). */
static const nf_data *small_data(void)
{
    static nf_data *d;
    if (!d) {
        float x[64 * 3];
        for (int i = 0; i < 64 * 3; i++)
            x[i] = (float)((i * 7919) % 101) / 10.0f + (float)(i % 3);
        nf_data_options o;
        nf_data_options_default(&o);
        if (nf_data_from_arrays(&d, x, NULL, 64, 3, 0, NULL, NULL, 0, &o))
            abort();
    }
    return d;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_text(data, size);
    nf_recipe *r = NULL;
    if (!text || nf_recipe_create(&r)) {
        free(text);
        return 0;
    }
    for (char *line = text, *next; line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        char *eq = strchr(line, '=');
        if (eq) {
            *eq = '\0';
            nf_recipe_set(r, line, eq + 1);
        }
    }
    nf_config cfg;
    nf_train_options opt;
    nf_train_options_default(&opt);
    int race;
    if (nf_recipe_resolve(r, small_data(), &cfg, &opt, &race) == NF_OK && (race < 0 || race > 1))
        abort();
    nf_config_default(&cfg, NF_MODEL_MAF, 3);
    nf_recipe_apply(r, &cfg, &opt);
    nf_recipe_free(r);
    free(text);
    return 0;
}
