/* Permutations of 0..dim-1. */
#ifndef NF_CORE_PERM_H
#define NF_CORE_PERM_H

#include <stdint.h>

#include "nflow.h"

/* Whether perm is a permutation of 0..dim-1. */
int perm_is_valid(const int *perm, int dim);
/* A seeded random permutation of 0..dim-1 (malloc'ed). */
nf_status perm_random(int dim, uint64_t seed, int **out);

#endif
