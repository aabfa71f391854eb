/* The 2-D energy densities of Rezende & Mohamed (2015), "Variational
 * inference with normalizing flows", Table 1: log p(z) = -U(z), unnormalised.
 *
 *   w1(z) = sin(2 pi z1 / 4)
 *   w2(z) = 3 exp(-0.5 ((z1 - 1) / 0.6)^2)
 *   w3(z) = 3 sigma((z1 - 1) / 0.3),  sigma the logistic function
 *   U1(z) = 0.5 ((|z| - 2) / 0.4)^2
 *           - log(exp(-0.5 ((z1 - 2) / 0.6)^2) + exp(-0.5 ((z1 + 2) / 0.6)^2))
 *   U2(z) = 0.5 ((z2 - w1) / 0.4)^2
 *   U3(z) = -log(exp(-0.5 ((z2 - w1) / 0.35)^2) + exp(-0.5 ((z2 - w1 + w2) / 0.35)^2))
 *   U4(z) = -log(exp(-0.5 ((z2 - w1) / 0.4)^2) + exp(-0.5 ((z2 - w1 + w3) / 0.35)^2))
 *
 * U1 is proper (it decays in the radius); U2..U4 as published do not decay
 * in z1 at all, so exp(-U) has an infinite integral: the paper pictures
 * them on [-4, 4]^2 only. Reverse-KL training against them has no minimum
 * and does diverge: a student gains entropy without end by spreading along
 * z1 (3000 steps of `nflow fit` put 40-56% of the samples beyond |z1| = 4,
 * one RealNVP to |z1| ~ 1e4). So every target here, u1 included for
 * consistency, is the published energy PLUS an explicit wall
 *
 *   B(z) = 0.5 ((|z1| - 4) / 0.1)^2  for |z1| > 4, else 0,
 *
 * log p = -U - B: unchanged on [-4, 4] x R, proper everywhere. The wall
 * changes U1's log-normaliser by < 1e-6 (log Z = 1.8775); with it, log Z of
 * u2, u3, u4 is 2.1129, 2.6726, 2.7416 (grid sums over [-10, 10]^2).
 * Gradients are analytic, in double; log-sum-exps are computed from their
 * largest term. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "extras/nflow_extras.h"
#include "nflow.h"

#define PI 3.14159265358979323846

enum { T_U1, T_U2, T_U3, T_U4, T_COUNT };

static const char *const target_names[T_COUNT + 1] = {"u1", "u2", "u3", "u4", NULL};

const char *const *nf_target_names(void) { return target_names; }

static nf_status find_target(const char *name, int *t)
{
    for (int i = 0; name && i < T_COUNT; i++)
        if (strcmp(name, target_names[i]) == 0) {
            *t = i;
            return NF_OK;
        }
    return nf_fail(NF_ERR_INVALID, "unknown target '%s' (known targets: u1, u2, u3, u4)", name ? name : "(null)");
}

/* log(e^a + e^b) and the weight of a, e^a / (e^a + e^b). */
static double lse2(double a, double b, double *wa)
{
    double m = a > b ? a : b, ea = exp(a - m), eb = exp(b - m);
    *wa = ea / (ea + eb);
    return m + log(ea + eb);
}

/* The wall B(z1) of the header; adds dB/dz1 to *dz1. */
static double box_wall(double z1, double *dz1)
{
    double e = fabs(z1) - 4;
    if (e <= 0)
        return 0;
    *dz1 += (z1 > 0 ? e : -e) / 0.01;
    return 0.5 * e * e / 0.01;
}

/* log p = -U(z1, z2) - B(z1) and its gradient (g1, g2). */
static double target_eval(int t, double z1, double z2, double *g1, double *g2)
{
    double w1 = sin(PI * z1 / 2), dw1 = PI / 2 * cos(PI * z1 / 2);
    double lp, wa;
    switch (t) {
    case T_U1: {
        double r = sqrt(z1 * z1 + z2 * z2), e = (r - 2) / 0.4;
        double a = -0.5 * (z1 - 2) * (z1 - 2) / 0.36, b = -0.5 * (z1 + 2) * (z1 + 2) / 0.36;
        lp = -0.5 * e * e + lse2(a, b, &wa);
        /* d/dz of -0.5 e^2 is -(r - 2) / 0.16 z / r; 0 at the origin, where the
         * ring term has no direction */
        double k = r > 0 ? -(r - 2) / 0.16 / r : 0;
        *g1 = k * z1 + wa * (-(z1 - 2) / 0.36) + (1 - wa) * (-(z1 + 2) / 0.36);
        *g2 = k * z2;
        break;
    }
    case T_U2: {
        double d = (z2 - w1) / 0.16;
        lp = -0.5 * (z2 - w1) * (z2 - w1) / 0.16;
        *g1 = d * dw1;
        *g2 = -d;
        break;
    }
    case T_U3:
    case T_U4: {
        /* both are log(e^a + e^b), a = -0.5 (z2 - w1)^2 / sa^2,
         * b = -0.5 (z2 - w1 + v)^2 / 0.35^2, v = w2 (U3) or w3 (U4) */
        double sa2 = t == T_U3 ? 0.35 * 0.35 : 0.4 * 0.4, sb2 = 0.35 * 0.35, v, dv;
        if (t == T_U3) {
            v = 3 * exp(-0.5 * (z1 - 1) * (z1 - 1) / 0.36);
            dv = -v * (z1 - 1) / 0.36;
        } else {
            double s = 1 / (1 + exp(-(z1 - 1) / 0.3));
            v = 3 * s;
            dv = 3 * s * (1 - s) / 0.3;
        }
        double da = z2 - w1, db = z2 - w1 + v;
        lp = lse2(-0.5 * da * da / sa2, -0.5 * db * db / sb2, &wa);
        /* d a / dz = -da / sa2 (d da / dz), d da / dz = (-dw1, 1);
         * d b / dz = -db / sb2 (d db / dz), d db / dz = (-dw1 + dv, 1) */
        double ka = -da / sa2, kb = -db / sb2;
        *g1 = wa * ka * (-dw1) + (1 - wa) * kb * (-dw1 + dv);
        *g2 = wa * ka + (1 - wa) * kb;
        break;
    }
    default:
        return *g1 = *g2 = NAN;
    }
    double db = 0;
    lp -= box_wall(z1, &db);
    *g1 -= db;
    return lp;
}

nf_status nf_target_log_prob(const char *name, const float *x, size_t rows, double *log_p, float *grad)
{
    int t;
    nf_status st = find_target(name, &t);
    if (st)
        return st;
    if (rows == 0)
        return NF_OK;
    if (!x || !log_p)
        return nf_fail(NF_ERR_INVALID, "nf_target_log_prob: %s is NULL", x ? "log_p" : "x");
    for (size_t i = 0; i < 2 * rows; i++)
        if (!isfinite(x[i]))
            return nf_fail(NF_ERR_NONFINITE, "target %s: row %zu, column %zu is %s", name, i / 2, i % 2,
                           isnan(x[i]) ? "NaN" : "infinite");
    for (size_t r = 0; r < rows; r++) {
        double g1, g2;
        log_p[r] = target_eval(t, x[2 * r], x[2 * r + 1], &g1, &g2);
        if (grad) {
            grad[2 * r] = (float)g1;
            grad[2 * r + 1] = (float)g2;
        }
    }
    return NF_OK;
}

int nf_target_callback(const float *x, size_t rows, int dim, double *log_p, float *grad, void *user)
{
    const char *name = user;
    int t;
    if (find_target(name, &t))
        return 1;
    if (dim != 2)
        return nf_fail(NF_ERR_DIMENSION, "target %s is 2-D; the flow has %d dimensions", name, dim), 1;
    return nf_target_log_prob(name, x, rows, log_p, grad) != NF_OK;
}
