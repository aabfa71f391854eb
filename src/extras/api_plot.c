/* nf_plot_png: the learned density on a grid beside data and samples. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "extras/nflow_extras.h"
#include "core/error.h"
#include "extras/plot.h"
#include "extras/plot_grid.h"

nf_status nf_plot_png(nf_flow *f, const char *path, const float *data, size_t n_data, const float *samples,
                      size_t n_samples, double lo, double hi)
{
    if (!f || nf_flow_dim(f) != 2)
        return nf_fail(NF_ERR_DIMENSION, "%s: pictures are for 2-D models", path);
    if (!(lo < hi))
        plot_box_of(data, n_data, samples, n_samples, &lo, &hi);
    float *pts = malloc(sizeof(float) * 2 * PLOT_GRID * PLOT_GRID);
    double *grid = malloc(sizeof(double) * PLOT_GRID * PLOT_GRID);
    nf_status st = pts && grid ? NF_OK : nf_fail(NF_ERR_NOMEM, "out of memory plotting %s", path);
    if (!st) {
        plot_grid_points(lo, hi, pts);
        st = plot_flow_density(f, pts, grid);
    }
    if (!st) {
        plot_panel panels[3] = {{"model density", grid, PLOT_GRID, PLOT_GRID, NULL, 0}};
        int n = 1;
        if (data)
            panels[n++] = (plot_panel){"data", NULL, 0, 0, data, n_data};
        if (samples)
            panels[n++] = (plot_panel){"model samples", NULL, 0, 0, samples, n_samples};
        st = plot_write_png(path, panels, n, PLOT_PANEL, lo, hi);
    }
    free(pts);
    free(grid);
    return st;
}

nf_status nf_plot_model_png(nf_flow *f, const char *path, const float *data, size_t n_data, size_t n_samples,
                            uint64_t seed, double lo, double hi)
{
    if (!f || nf_flow_dim(f) != 2)
        return nf_fail(NF_ERR_DIMENSION, "%s: pictures are for 2-D models", path);
    if (n_samples > SIZE_MAX / (2 * sizeof(float)))
        return nf_fail(NF_ERR_INVALID, "%s: %zu samples: too many", path, n_samples);
    float *samples = n_samples ? malloc(sizeof(float) * 2 * n_samples) : NULL;
    nf_status st = n_samples && !samples ? nf_fail(NF_ERR_NOMEM, "out of memory for %zu samples", n_samples) : NF_OK;
    if (!st && n_samples)
        st = nf_flow_sample(f, n_samples, seed, samples, NULL);
    if (!st)
        st = nf_plot_png(f, path, data, n_data, samples, n_samples, lo, hi);
    free(samples);
    return st;
}
