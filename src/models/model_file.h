/* Model files (docs/model-format.md): nf_flow_save, nf_flow_load and
 * nf_flow_describe, and the sections a checkpoint shares with them. */
#ifndef NF_MODELS_MODEL_FILE_H
#define NF_MODELS_MODEL_FILE_H

#include "flow/flow.h"
#include "io/mfile.h"

/* Every section of a model file, for nf_flow_save and
 * checkpoint_write; the optimizer's state (Adam's step and moments, twice
 * the parameters' size) only when with_optimizer: a final model holds what
 * evaluation and sampling read, a checkpoint what training continues from. */
nf_status flow_put_model(const nf_flow *f, mf_writer *w, int with_optimizer);

#endif
