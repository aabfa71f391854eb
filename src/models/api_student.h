/* The distillation student's sizing, for the maximum-likelihood phase's
 * plan (train/api_distill.c). */
#ifndef NF_MODELS_API_STUDENT_H
#define NF_MODELS_API_STUDENT_H

#include "nflow.h"

/* Multiply-adds per sampled row of a flow of this config. */
double flow_sampling_macs(const nf_config *c);

#endif
