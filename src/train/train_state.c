/* The training loop's state (everything a checkpoint holds besides the
 * model) and the checksums that tie a checkpoint to its data. */
#include "train/train_state.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <libdeflate.h>

#include "core/error.h"

int (*train_step_hook)(const train_state *s, void *user);
void *train_step_hook_user;

uint32_t train_data_crc(const float *x, size_t n) { return train_data_crc_more(0, x, n); }

uint32_t train_data_crc_more(uint32_t crc, const float *x, size_t n)
{
    const uint32_t one = 1;
    int little = *(const unsigned char *)&one == 1;
    uint32_t c = crc;
    unsigned char buf[4096];
    for (size_t i = 0; i < n;) {
        size_t k = n - i;
        const unsigned char *p = (const unsigned char *)(x + i);
        if (!little) { /* the little-endian bytes, a buffer at a time */
            if (k > sizeof buf / 4) k = sizeof buf / 4;
            for (size_t j = 0; j < k; j++) {
                uint32_t u;
                memcpy(&u, x + i + j, 4);
                for (int b = 0; b < 4; b++)
                    buf[4 * j + b] = (unsigned char)(u >> (8 * b));
            }
            p = buf;
        }
        c = libdeflate_crc32(c, p, k * 4);
        i += k;
    }
    return c;
}

nf_status train_state_init(train_state *s, const nf_flow *f, const float *train, size_t n_train, const float *val,
                           size_t n_val, const nf_train_options *opt, int checksums)
{
    memset(s, 0, sizeof *s);
    s->dim = f->dim;
    s->n_train = (int64_t)n_train;
    s->n_val = (int64_t)n_val;
    s->opt = *opt;
    s->n_params = f->n_params;
    s->n_state = f->n_state;
    size_t nb = s->n_params + s->n_state;
    s->order = malloc(sizeof(int64_t) * (n_train ? n_train : 1));
    s->best = malloc(sizeof(real) * (nb ? nb : 1));
    if (!s->order || !s->best) {
        train_state_free(s);
        return nf_fail(NF_ERR_NOMEM, "out of memory for the training state");
    }
    for (size_t i = 0; i < n_train; i++)
        s->order[i] = (int64_t)i;
    if (s->n_params)
        memcpy(s->best, f->params, sizeof(real) * s->n_params);
    if (s->n_state)
        memcpy(s->best + s->n_params, f->state, sizeof(real) * s->n_state);
    rng_seed(&s->rng, opt->seed);
    s->last_train = NAN;
    s->best_val = -INFINITY;
    s->lr = opt->lr;
    if (checksums) {
        s->crc_train = train_data_crc(train, n_train * (size_t)f->dim);
        s->crc_val = train_data_crc(val, n_val * (size_t)f->dim);
    }
    return NF_OK;
}

void train_state_free(train_state *s)
{
    free(s->order);
    free(s->best);
    s->order = NULL;
    s->best = NULL;
}
