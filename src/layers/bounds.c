/* Bounded support: each bounded column mapped to the real line
 * (src/layers/bounds.h, docs/layers.md). Per column, with a = lo, b = hi:
 *   (a, b):   z = log(x - a) - log(b - x)  log dz/dx = log(b - a) - log(x - a) - log(b - x)
 *   (a, inf): z = log(x - a)              log dz/dx = -log(x - a)
 *   (-inf, b): z = -log(b - x)            log dz/dx = -log(b - x)
 * computed in double from the differences x - a and b - x, which keep the
 * precision of x near either bound (1 - u for u = (x - a) / (b - a) would
 * not). */
#include "layers/bounds.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/kern.h"

enum { OPEN = 0, INTERVAL = 1, BELOW = 2 /* (a, inf) */, ABOVE = 3 /* (-inf, b) */ };

typedef struct bounds {
    int *kind;
    double *lo, *hi, *log_width; /* -inf / +inf on open sides; log(b - a) of an interval */
    real *lo_in, *hi_in;         /* the nearest values of the float type strictly inside */
} bounds;

#ifdef NF_REAL_DOUBLE
#define R_MAX DBL_MAX
#define R_MIN DBL_MIN
#define r_nextafter nextafter
#else
#define R_MAX FLT_MAX
#define R_MIN FLT_MIN
#define r_nextafter nextafterf
#endif

/* The least value of the float type above lo (-R_MAX for an open side),
 * never a subnormal: the computing calls treat those as 0 (DAZ), which
 * would put the value back on a bound of 0. */
static real first_above(double lo)
{
    if (!isfinite(lo))
        return (real)-R_MAX;
    real v = (real)lo;
    v = (double)v > lo ? v : r_nextafter(v, (real)INFINITY);
    return v != 0 && fabs((double)v) < R_MIN ? (v > 0 ? (real)R_MIN : 0) : v;
}

static real last_below(double hi)
{
    if (!isfinite(hi))
        return (real)R_MAX;
    real v = (real)hi;
    v = (double)v < hi ? v : r_nextafter(v, (real)-INFINITY);
    return v != 0 && fabs((double)v) < R_MIN ? (v < 0 ? (real)-R_MIN : 0) : v;
}

/* Whether a float32 (the data's type, in every build) lies strictly between a and b. */
static int float_between(double a, double b)
{
    float v = (float)a;
    if (!((double)v > a))
        v = nextafterf(v, INFINITY);
    return (double)v < b;
}

int bounds_check(int dim, const double *lo, const double *hi, char *why, size_t size)
{
    for (int i = 0; i < dim; i++) {
        double a = lo[i], b = hi[i];
        if (a == INFINITY || b == -INFINITY || (isfinite(a) && fabs(a) > BOUNDS_MAX) ||
            (isfinite(b) && fabs(b) > BOUNDS_MAX)) {
            snprintf(why, size, "column %d: bound (%g, %g) out of range (finite sides within +-1e30; NaN or an "
                     "infinity of the right sign for an open side)", i, a, b);
            return 0;
        }
        if (isfinite(a) && isfinite(b) && !(a < hi[i])) {
            snprintf(why, size, "column %d: lower bound %g is not below the upper bound %g", i, a, b);
            return 0;
        }
        if (isfinite(a) && isfinite(b) && !float_between(a, b)) {
            snprintf(why, size, "column %d: no float32 value lies strictly between %.9g and %.9g", i, a, b);
            return 0;
        }
    }
    return 1;
}


int bounds_is(const layer *l) { return l && l->ops == &bounds_ops; }

void bounds_get(const layer *l, const double **lo, const double **hi)
{
    const bounds *s = l->self;
    *lo = s->lo;
    *hi = s->hi;
}

/* Whether v lies strictly inside column i's bounds (NaN does not). */
static int inside(const bounds *s, int i, double v)
{
    return v > s->lo[i] && v < s->hi[i];
}

size_t bounds_outside(const layer *l, const real *x, size_t rows, size_t *first_row, int *first_col)
{
    const bounds *s = l->self;
    int dim = l->dim;
    size_t n = 0;
    for (size_t r = 0; r < rows; r++)
        for (int i = 0; i < dim; i++)
            if (s->kind[i] != OPEN && !inside(s, i, x[r * dim + i])) {
                if (!n && first_row)
                    *first_row = r;
                if (!n && first_col)
                    *first_col = i;
                n++;
                break;
            }
    return n;
}

void bounds_to_z(const layer *l, int rows, const real *x, real *z, double *ldj)
{
    const bounds *s = l->self;
    int dim = l->dim;
    K_PARALLEL_ROWS((size_t)rows * dim)
    for (int r = 0; r < rows; r++) {
        double acc = 0;
        int out = 0;
        for (int i = 0; i < dim; i++) {
            size_t k = (size_t)r * dim + i;
            double v = x[k], t = v;
            if (s->kind[i] != OPEN && !inside(s, i, v)) {
                out = 1;
                z[k] = 0; /* finite, so that the row's other values pass the layers after this one unharmed */
                continue;
            }
            switch (s->kind[i]) {
            case INTERVAL: {
                double la = log(v - s->lo[i]), lb = log(s->hi[i] - v);
                t = la - lb;
                acc += s->log_width[i] - la - lb;
                break;
            }
            case BELOW:
                t = log(v - s->lo[i]);
                acc -= t;
                break;
            case ABOVE:
                t = -log(s->hi[i] - v);
                acc += t;
                break;
            default: break;
            }
            z[k] = (real)t;
        }
        if (ldj)
            ldj[r] = out ? -INFINITY : ldj[r] + acc;
    }
}

/* log(1 + e^t) without overflow. */
static double softplus(double t) { return (t > 0 ? t : 0) + log1p(exp(-fabs(t))); }

void bounds_to_x(const layer *l, int rows, const real *z, real *x, double *ldj)
{
    const bounds *s = l->self;
    int dim = l->dim;
    K_PARALLEL_ROWS((size_t)rows * dim)
    for (int r = 0; r < rows; r++) {
        double acc = 0;
        for (int i = 0; i < dim; i++) {
            size_t k = (size_t)r * dim + i;
            double t = z[k], v;
            switch (s->kind[i]) {
            case INTERVAL: {
                /* from the nearer bound: b - w / (1 + e^t) keeps the precision near b */
                double w = s->hi[i] - s->lo[i];
                v = t >= 0 ? s->hi[i] - w / (1 + exp(t)) : s->lo[i] + w / (1 + exp(-t));
                acc += s->log_width[i] - softplus(t) - softplus(-t);
                break;
            }
            case BELOW:
                v = s->lo[i] + exp(t);
                acc += t;
                break;
            case ABOVE:
                v = s->hi[i] - exp(-t);
                acc -= t;
                break;
            default:
                x[k] = z[k];
                continue;
            }
            real y = (real)v;
            /* rounding to the float type may land on a bound (or overflow):
             * the nearest value strictly inside instead; NaN stays NaN */
            if (!isnan(v) && !((double)y > s->lo[i]))
                y = s->lo_in[i];
            else if (!isnan(v) && !((double)y < s->hi[i]))
                y = s->hi_in[i];
            x[k] = y;
        }
        if (ldj)
            ldj[r] += acc;
    }
}

static void bounds_x2z(layer *l, const real *p, int rows, const real *x, real *z, double *ldj)
{
    (void)p;
    bounds_to_z(l, rows, x, z, ldj);
}

static void bounds_z2x(layer *l, const real *p, int rows, const real *z, real *x, double *ldj)
{
    (void)p;
    bounds_to_x(l, rows, z, x, ldj);
}

/* At x (value v of column i, inside its support): dz/dx and d(log dz/dx)/dx. */
static void x_side(const bounds *s, int i, double v, double *jac, double *g)
{
    switch (s->kind[i]) {
    case INTERVAL: {
        double ia = 1 / (v - s->lo[i]), ib = 1 / (s->hi[i] - v);
        *jac = ia + ib;
        *g = ib - ia;
        break;
    }
    case BELOW: *jac = 1 / (v - s->lo[i]), *g = -*jac; break;
    case ABOVE: *jac = 1 / (s->hi[i] - v), *g = *jac; break;
    default: *jac = 1, *g = 0; break;
    }
}

/* At z (value t of column i): dx/dz and d(log dx/dz)/dz. */
static void z_side(const bounds *s, int i, double t, double *jac, double *g)
{
    switch (s->kind[i]) {
    case INTERVAL: {
        double sg = 1 / (1 + exp(-t)), sn = 1 / (1 + exp(t)); /* sigmoid(t), sigmoid(-t) = 1 - sg */
        *jac = (s->hi[i] - s->lo[i]) * sg * sn;
        *g = sn - sg;
        break;
    }
    case BELOW: *jac = exp(t), *g = 1; break;
    case ABOVE: *jac = exp(-t), *g = -1; break;
    default: *jac = 1, *g = 0; break;
    }
}

/* Either direction's backward from its input `in` (x: outside the support
 * the gradient is 0): din = dout jac + dldj g. */
static void backward(const layer *l, int rows, const real *in, const real *dout, real dldj, real *din, int from_z)
{
    const bounds *s = l->self;
    int dim = l->dim;
    K_PARALLEL_ROWS((size_t)rows * dim)
    for (int r = 0; r < rows; r++)
        for (int i = 0; i < dim; i++) {
            size_t k = (size_t)r * dim + i;
            double v = in[k], jac, g;
            if (!from_z && s->kind[i] != OPEN && !inside(s, i, v)) {
                din[k] = 0;
                continue;
            }
            (from_z ? z_side : x_side)(s, i, v, &jac, &g);
            din[k] = (real)(dout[k] * jac + dldj * g);
        }
}

static void bounds_x2z_backward(layer *l, const real *p, int rows, const real *x, const real *z, const real *dz,
                                real dldj, real *dx, real *dp)
{
    (void)p, (void)z, (void)dp;
    if (dx)
        backward(l, rows, x, dz, dldj, dx, 0);
}

static void bounds_z2x_backward(layer *l, const real *p, int rows, const real *z, const real *x, const real *dx,
                                real dldj, real *dz, real *dp)
{
    (void)p, (void)x, (void)dp;
    if (dz)
        backward(l, rows, z, dx, dldj, dz, 1);
}

static nf_status bounds_save(const layer *l, mf_writer *w)
{
    const bounds *s = l->self;
    nf_status st = mf_begin(w, l->ops->tag);
    if (!st) st = mf_put_f64s(w, "lo", s->lo, l->dim);
    if (!st) st = mf_put_f64s(w, "hi", s->hi, l->dim);
    return st;
}

static size_t bounds_describe(const layer *l, char *buf, size_t size)
{
    const bounds *s = l->self;
    size_t k = 0;
    int shown = 0;
#define OUT(...) k += (size_t)snprintf(buf + (k < size ? k : size), k < size ? size - k : 0, __VA_ARGS__)
    OUT("bounds to the real line:");
    for (int i = 0; i < l->dim; i++) {
        if (s->kind[i] == OPEN)
            continue;
        if (shown++ >= 8)
            continue;
        if (s->kind[i] == INTERVAL)
            OUT("%s column %d in (%.9g, %.9g) by logit", shown > 1 ? "," : "", i, s->lo[i], s->hi[i]);
        else if (s->kind[i] == BELOW)
            OUT("%s column %d in (%.9g, inf) by log", shown > 1 ? "," : "", i, s->lo[i]);
        else
            OUT("%s column %d in (-inf, %.9g) by -log(hi - x)", shown > 1 ? "," : "", i, s->hi[i]);
    }
    if (shown > 8)
        OUT(", ... %d more", shown - 8);
#undef OUT
    return k;
}

static void bounds_destroy(layer *l)
{
    bounds *s = l->self;
    free(s->kind);
    free(s->lo);
    free(s->lo_in);
}

const layer_ops bounds_ops = {
    .load = bounds_load,
    .tag = "bounds",
    .n_params = layer_no_params,
    .init_params = layer_no_init,
    .reserve = layer_no_reserve,
    .x2z = bounds_x2z,
    .x2z_backward = bounds_x2z_backward,
    .z2x = bounds_z2x,
    .z2x_backward = bounds_z2x_backward,
    .save = bounds_save,
    .describe = bounds_describe,
    .destroy = bounds_destroy,
};

layer *bounds_new(int dim, const double *lo, const double *hi)
{
    char why[256];
    if (!bounds_check(dim, lo, hi, why, sizeof why)) {
        nf_fail(NF_ERR_INVALID, "bounds: %s", why);
        return NULL;
    }
    layer *l = layer_alloc(&bounds_ops, dim, sizeof(bounds));
    if (!l)
        return NULL;
    bounds *s = l->self;
    s->kind = malloc(sizeof(int) * dim);
    s->lo = malloc(sizeof(double) * 3 * (size_t)dim);
    s->lo_in = malloc(sizeof(real) * 2 * (size_t)dim);
    if (!s->kind || !s->lo || !s->lo_in) {
        layer_free(l);
        nf_fail(NF_ERR_NOMEM, "out of memory creating the bounds layer");
        return NULL;
    }
    s->hi = s->lo + dim;
    s->log_width = s->hi + dim;
    s->hi_in = s->lo_in + dim;
    for (int i = 0; i < dim; i++) {
        double a = isnan(lo[i]) ? -INFINITY : lo[i], b = isnan(hi[i]) ? INFINITY : hi[i];
        s->lo[i] = a;
        s->hi[i] = b;
        s->kind[i] = isfinite(a) ? (isfinite(b) ? INTERVAL : BELOW) : isfinite(b) ? ABOVE : OPEN;
        s->log_width[i] = s->kind[i] == INTERVAL ? log(b - a) : 0;
        s->lo_in[i] = first_above(a);
        s->hi_in[i] = last_below(b);
    }
    return l;
}

nf_status bounds_load(const mf_file *f, const mf_section *s, int dim, layer **out)
{
    const double *lo, *hi;
    nf_status st = mf_get_f64s(f, s, "lo", (size_t)dim, &lo, NULL);
    if (!st) st = mf_get_f64s(f, s, "hi", (size_t)dim, &hi, NULL);
    if (st)
        return st;
    char why[256];
    if (!bounds_check(dim, lo, hi, why, sizeof why))
        return nf_fail(NF_ERR_FORMAT, "%s: section 'bounds': %s", mf_path(f), why);
    *out = bounds_new(dim, lo, hi);
    return *out ? NF_OK : NF_ERR_NOMEM;
}
