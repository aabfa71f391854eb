/* Helpers of layer-by-layer building that other builders use. */
#ifndef NF_MODELS_API_BUILD_H
#define NF_MODELS_API_BUILD_H

#include <stdint.h>

#include "nflow.h"

/* A seeded random permutation of 0..dim-1 (malloc'ed). */
nf_status flow_random_perm(int dim, uint64_t seed, int **out);

#endif
