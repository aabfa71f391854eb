/* Permutations of 0..dim-1: the orders of MADEs, the shuffles of
 * permutation and LU layers. */
#include "core/perm.h"

#include <stdlib.h>

#include "core/error.h"
#include "core/rng.h"

int perm_is_valid(const int *perm, int dim)
{
    char *seen = calloc((size_t)dim, 1);
    int ok = seen != NULL;
    for (int i = 0; ok && i < dim; i++) {
        ok = perm[i] >= 0 && perm[i] < dim && !seen[perm[i]];
        if (ok)
            seen[perm[i]] = 1;
    }
    free(seen);
    return ok;
}

nf_status perm_random(int dim, uint64_t seed, int **out)
{
    int64_t *idx = malloc(sizeof(int64_t) * dim);
    int *perm = malloc(sizeof(int) * dim);
    if (!idx || !perm) {
        free(idx);
        free(perm);
        return nf_fail(NF_ERR_NOMEM, "out of memory");
    }
    rng r;
    rng_seed(&r, seed);
    for (int i = 0; i < dim; i++)
        idx[i] = i;
    rng_shuffle(&r, idx, dim);
    for (int i = 0; i < dim; i++)
        perm[i] = (int)idx[i];
    free(idx);
    *out = perm;
    return NF_OK;
}
