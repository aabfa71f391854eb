/* nf_plot_target_png: a built-in target's density beside a model's density
 * and samples (what `nflow fit --plot` draws). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "error.h"
#include "flow.h"
#include "plot.h"

enum { GRID = 200, PANEL = 360 };

/* exp(v - max v) in place: the colours need only relative densities, and
 * subtracting the maximum keeps a sharp model from overflowing. */
static void relative_density(double *v, size_t n)
{
    double mx = -INFINITY;
    for (size_t i = 0; i < n; i++)
        if (isfinite(v[i]) && v[i] > mx)
            mx = v[i];
    for (size_t i = 0; i < n; i++)
        v[i] = isfinite(mx) ? exp(v[i] - mx) : NAN;
}

nf_status nf_plot_target_png(nf_flow *f, const char *target, const char *path, size_t n_samples, uint64_t seed,
                             double lo, double hi)
{
    if (!path)
        return nf_fail(NF_ERR_INVALID, "nf_plot_target_png: path is NULL");
    if (!f || f->dim != 2)
        return nf_fail(NF_ERR_DIMENSION, "%s: pictures are for 2-D models", path);
    if (!(lo < hi) || !isfinite(lo) || !isfinite(hi))
        return nf_fail(NF_ERR_INVALID, "%s: plotting box [%g, %g] is empty", path, lo, hi);
    if (n_samples > SIZE_MAX / (2 * sizeof(float)))
        return nf_fail(NF_ERR_INVALID, "%s: %zu samples is too many", path, n_samples);
    /* an unknown target fails here, before any work */
    float probe[2] = {0, 0};
    double probe_lp;
    nf_status st = nf_target_log_prob(target, probe, 1, &probe_lp, NULL);
    if (st)
        return st;
    float *pts = malloc(sizeof(float) * 2 * GRID * GRID);
    double *tgrid = malloc(sizeof(double) * GRID * GRID), *mgrid = malloc(sizeof(double) * GRID * GRID);
    float *samples = n_samples ? malloc(sizeof(float) * 2 * n_samples) : NULL;
    if (!pts || !tgrid || !mgrid || (n_samples && !samples))
        st = nf_fail(NF_ERR_NOMEM, "out of memory plotting %s", path);
    for (int r = 0; !st && r < GRID; r++)
        for (int c = 0; c < GRID; c++) {
            size_t k = (size_t)r * GRID + c;
            pts[2 * k] = (float)(lo + (hi - lo) * (c + 0.5) / GRID);
            pts[2 * k + 1] = (float)(hi - (hi - lo) * (r + 0.5) / GRID);
        }
    if (!st)
        st = nf_target_log_prob(target, pts, GRID * GRID, tgrid, NULL);
    if (!st)
        st = nf_flow_log_prob(f, pts, GRID * GRID, mgrid);
    if (!st && n_samples)
        st = nf_flow_sample(f, n_samples, seed, samples, NULL);
    if (!st) {
        relative_density(tgrid, GRID * GRID);
        relative_density(mgrid, GRID * GRID);
        plot_panel panels[3] = {
            {"target density", tgrid, GRID, GRID, NULL, 0},
            {"model density", mgrid, GRID, GRID, NULL, 0},
            {"model samples", NULL, 0, 0, samples, n_samples},
        };
        st = plot_write_png(path, panels, n_samples ? 3 : 2, PANEL, lo, hi);
    }
    free(pts);
    free(tgrid);
    free(mgrid);
    free(samples);
    return st;
}
