/* Training checkpoints: the model exactly as nf_flow_save writes it, then a
 * "train_state" section holding the training loop's whole state, so that a
 * resumed run ends with the same bits as an uninterrupted one. The section
 * is specified in docs/model-format.md. */
#ifndef NF_CHECKPOINT_H
#define NF_CHECKPOINT_H

#include "flow/flow.h"
#include "train/train_state.h"

/* Writes f (nf_flow_save's sections) and s to `path`, atomically. */
nf_status checkpoint_write(const nf_flow *f, const train_state *s, const char *path);
/* Restores s (made by train_state_init for the caller's data) from the
 * checkpoint at `path` after checking that the file belongs to this data
 * (dimension, rows, checksums) and that f is the model saved in it. s->opt
 * gets the saved options; the caller decides which of them to keep. */
nf_status checkpoint_read(const char *path, const nf_flow *f, train_state *s);
/* Only the saved options (nf_train_options_read). */
nf_status checkpoint_read_options(const char *path, nf_train_options *opt);

#endif
