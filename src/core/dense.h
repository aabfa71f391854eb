/* Small dense symmetric matrices in double (row-major p x p): the
 * whitening's and the Gaussian mixture's covariances. */
#ifndef NF_CORE_DENSE_H
#define NF_CORE_DENSE_H

/* In place: the lower Cholesky factor of a (the upper triangle zeroed); 0,
 * or -1 when a is not positive definite. */
int dense_cholesky(double *a, int p);
/* inv_t = L^-T (upper triangular) for a lower triangular L with a positive
 * diagonal: (x - m) L^-T is the row whose squared norm is the Mahalanobis
 * distance under L L^T. */
void dense_lower_inverse_t(const double *l, int p, double *inv_t);

#endif
