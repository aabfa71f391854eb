/* Training checkpoints: the model exactly as nf_flow_save writes it, then a
 * "train_state" section holding the training loop's whole state, so that a
 * resumed run ends with the same bits as an uninterrupted one. The section
 * is specified in docs/model-format.md. */
#ifndef NF_CHECKPOINT_H
#define NF_CHECKPOINT_H

#include <stdint.h>

#include "flow.h"
#include "mfile.h"
#include "rng.h"

/* Everything nf_flow_train carries from one step to the next (besides the
 * flow's own parameters, layer state and Adam moments). */
typedef struct train_state {
    /* what the run belongs to; a resume must match it */
    int dim;
    int64_t n_train, n_val;
    uint32_t crc_train, crc_val; /* checkpoint_data_crc of the data */
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

/* CRC-32 (zlib's) of the little-endian bytes of n floats. */
uint32_t checkpoint_data_crc(const float *x, size_t n);
/* A fresh state for training f on this data with these options: order is
 * the identity, best the flow's current parameters and state. Allocates
 * order and best; the checksums are computed only when `checksums`. */
nf_status train_state_init(train_state *s, const nf_flow *f, const float *train, size_t n_train, const float *val,
                           size_t n_val, const nf_train_options *opt, int checksums);
void train_state_free(train_state *s);
/* Writes f (nf_flow_save's sections) and s to `path`, atomically. */
nf_status checkpoint_write(const nf_flow *f, const train_state *s, const char *path);
/* Restores s (made by train_state_init for the caller's data) from the
 * checkpoint at `path` after checking that the file belongs to this data
 * (dimension, rows, checksums) and that f is the model saved in it. s->opt
 * gets the saved options; the caller decides which of them to keep. */
nf_status checkpoint_read(const char *path, const nf_flow *f, train_state *s);
/* Only the saved options (nf_train_options_read). */
nf_status checkpoint_read_options(const char *path, nf_train_options *opt);

/* In api_model.c: every section of a model file, for nf_flow_save and
 * checkpoint_write; the optimizer's state (Adam's step and moments, twice
 * the parameters' size) only when with_optimizer: a final model holds what
 * evaluation and sampling read, a checkpoint what training continues from. */
nf_status flow_put_model(const nf_flow *f, mf_writer *w, int with_optimizer);

/* Test hook: when set, called after every training step (after the
 * checkpoint that step may write); non-zero abandons nf_flow_train at once,
 * leaving the flow as a killed process would (NF_ERR_INVALID). */
extern int (*train_step_hook)(const train_state *s, void *user);
extern void *train_step_hook_user;

#endif
