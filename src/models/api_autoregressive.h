/* Building the ready-made autoregressive models. */
#ifndef NF_MODELS_API_AUTOREGRESSIVE_H
#define NF_MODELS_API_AUTOREGRESSIVE_H

#include "flow/flow.h"

/* The layers (and MoG base) of the ready-made MADE / MADE MoG / MAF / MAF
 * MoG / IAF architectures. */
nf_status flow_build_autoregressive(nf_flow *f, const nf_config *cfg);

#endif
