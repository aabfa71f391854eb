#include "core/dense.h"

#include <math.h>
#include <stddef.h>

int dense_cholesky(double *a, int p)
{
    for (int j = 0; j < p; j++) {
        double d = a[(size_t)j * p + j];
        for (int k = 0; k < j; k++)
            d -= a[(size_t)j * p + k] * a[(size_t)j * p + k];
        if (!(d > 0))
            return -1;
        d = sqrt(d);
        a[(size_t)j * p + j] = d;
        for (int i = j + 1; i < p; i++) {
            double v = a[(size_t)i * p + j];
            for (int k = 0; k < j; k++)
                v -= a[(size_t)i * p + k] * a[(size_t)j * p + k];
            a[(size_t)i * p + j] = v / d;
        }
        for (int k = j + 1; k < p; k++)
            a[(size_t)j * p + k] = 0;
    }
    return 0;
}

void dense_lower_inverse_t(const double *l, int p, double *inv_t)
{
    /* column c of L^-1 by forward substitution; it is row c of L^-T */
    for (int c = 0; c < p; c++) {
        double *row = inv_t + (size_t)c * p;
        for (int i = 0; i < c; i++)
            row[i] = 0;
        for (int i = c; i < p; i++) {
            double v = i == c ? 1 : 0;
            for (int k = c; k < i; k++)
                v -= l[(size_t)i * p + k] * row[k];
            row[i] = v / l[(size_t)i * p + i];
        }
    }
}
