/* The image architectures: RealNVP's multi-scale flow and Glow
 * (docs/layers.md, "Image flows"), built from nf_config. */
#ifndef NF_MODELS_API_IMAGE_H
#define NF_MODELS_API_IMAGE_H

#include "flow/flow.h"

static inline int model_is_image(nf_model m) { return m == NF_MODEL_REALNVP_MS || m == NF_MODEL_GLOW; }

/* Whether cfg's image sizes make the architecture (a failure says why). */
nf_status image_config_check(const nf_config *cfg);
/* Adds the architecture's layers to f (after its standardisation). */
nf_status flow_build_image(nf_flow *f, const nf_config *cfg);

#endif
