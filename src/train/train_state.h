/* The training loop's whole state between two steps: what a checkpoint
 * saves besides the model (src/io/checkpoint.c), so that a resumed run
 * ends with the same bits as an uninterrupted one. */
#ifndef NF_TRAIN_STATE_H
#define NF_TRAIN_STATE_H

#include <stdint.h>

#include "flow/flow.h"
#include "core/rng.h"

/* Everything nf_flow_train carries from one step to the next (besides the
 * flow's own parameters, layer state and Adam moments). */
typedef struct train_state {
    /* what the run belongs to; a resume must match it */
    int dim;
    int64_t n_train, n_val;
    uint32_t crc_train, crc_val; /* train_data_crc of the data */
    /* the options that shape the run (batch .. seed); on resume the saved
     * ones, except max_epochs and patience, which the caller may change */
    nf_train_options opt;
    /* the loop */
    rng rng;
    int64_t epoch;       /* epochs completed */
    int64_t next;        /* where the next batch starts in `order`; 0: the next
                            epoch is still to be shuffled; n_train: the epoch's
                            validation is still to be done */
    int64_t *order;      /* n_train row indices, reshuffled in place each epoch */
    double loss_sum;     /* sum of batch loss x rows in this epoch */
    int64_t loss_rows;
    double last_train;   /* mean train log-likelihood of the last epoch (NaN before) */
    double best_val;     /* -inf before the first validation */
    int64_t best_epoch, bad_epochs, plateau;
    double lr;           /* current (after decays) */
    double elapsed;      /* seconds of training so far, over all runs */
    size_t n_params, n_state;
    real *best;          /* parameters, then layer state, of the best epoch */
} train_state;

/* CRC-32 (zlib's polynomial, by libdeflate) of the little-endian bytes of n floats. */
uint32_t train_data_crc(const float *x, size_t n);
/* The same continued over n more floats (a conditional flow's context). */
uint32_t train_data_crc_more(uint32_t crc, const float *x, size_t n);
/* A fresh state for training f on this data with these options: order is
 * the identity, best the flow's current parameters and state. Allocates
 * order and best; the checksums are computed only when `checksums`. */
nf_status train_state_init(train_state *s, const nf_flow *f, const float *train, size_t n_train, const float *val,
                           size_t n_val, const nf_train_options *opt, int checksums);
void train_state_free(train_state *s);

/* Test hook: when set, called after every training step (after the
 * checkpoint that step may write); non-zero abandons nf_flow_train at once,
 * leaving the flow as a killed process would (NF_ERR_INVALID). */
extern int (*train_step_hook)(const train_state *s, void *user);
extern void *train_step_hook_user;

#endif
