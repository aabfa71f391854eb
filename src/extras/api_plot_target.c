/* nf_plot_target_png: a built-in target's density beside a model's density
 * and samples (what `nflow fit --plot` draws). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "extras/nflow_extras.h"
#include "core/error.h"
#include "extras/plot.h"
#include "extras/plot_grid.h"

nf_status nf_plot_target_png(nf_flow *f, const char *target, const char *path, size_t n_samples, uint64_t seed,
                             double lo, double hi)
{
    if (!path)
        return nf_fail(NF_ERR_INVALID, "nf_plot_target_png: path is NULL");
    if (!f || nf_flow_dim(f) != 2)
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
    float *pts = malloc(sizeof(float) * 2 * PLOT_GRID * PLOT_GRID);
    double *tgrid = malloc(sizeof(double) * PLOT_GRID * PLOT_GRID), *mgrid = malloc(sizeof(double) * PLOT_GRID * PLOT_GRID);
    float *samples = n_samples ? malloc(sizeof(float) * 2 * n_samples) : NULL;
    if (!pts || !tgrid || !mgrid || (n_samples && !samples))
        st = nf_fail(NF_ERR_NOMEM, "out of memory plotting %s", path);
    if (!st)
        plot_grid_points(lo, hi, pts);
    if (!st)
        st = nf_target_log_prob(target, pts, PLOT_GRID * PLOT_GRID, tgrid, NULL);
    if (!st)
        st = plot_flow_density(f, pts, mgrid);
    if (!st && n_samples)
        st = nf_flow_sample(f, n_samples, seed, samples, NULL);
    if (!st) {
        plot_relative_density(tgrid, PLOT_GRID * PLOT_GRID);
        plot_panel panels[3] = {
            {"target density", tgrid, PLOT_GRID, PLOT_GRID, NULL, 0},
            {"model density", mgrid, PLOT_GRID, PLOT_GRID, NULL, 0},
            {"model samples", NULL, 0, 0, samples, n_samples},
        };
        st = plot_write_png(path, panels, n_samples ? 3 : 2, PLOT_PANEL, lo, hi);
    }
    free(pts);
    free(tgrid);
    free(mgrid);
    free(samples);
    return st;
}
