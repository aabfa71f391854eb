/* Building the ready-made autoregressive models. */
#ifndef NF_MODELS_API_AUTOREGRESSIVE_H
#define NF_MODELS_API_AUTOREGRESSIVE_H

#include "flow/flow.h"

/* The layers (and MoG base) of the ready-made MADE / MADE MoG / MAF / MAF
 * MoG / IAF architectures. */
nf_status flow_build_autoregressive(nf_flow *f, const nf_config *cfg);

/* Whether a model is built of MADEs (flow_build_autoregressive), and
 * whether its base is a mixture of Gaussians. */
static inline int model_is_autoregressive(nf_model m)
{
    return (m >= NF_MODEL_MADE && m <= NF_MODEL_IAF) || m == NF_MODEL_NSF_AR || m == NF_MODEL_IAF_MOG;
}
static inline int model_has_mog(nf_model m)
{
    return m == NF_MODEL_MADE_MOG || m == NF_MODEL_MAF_MOG || m == NF_MODEL_IAF_MOG;
}

#endif
