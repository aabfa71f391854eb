/* nf_plot_compare_png: two 2-D models' densities and samples side by side. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "extras/nflow_extras.h"
#include "core/error.h"
#include "extras/plot.h"
#include "extras/plot_grid.h"

nf_status nf_plot_compare_png(nf_flow *a, const char *title_a, nf_flow *b, const char *title_b,
                              const char *path, size_t n_samples, uint64_t seed, double lo, double hi)
{
    if (!path)
        return nf_fail(NF_ERR_INVALID, "nf_plot_compare_png: no path");
    if (!a || !b || nf_flow_dim(a) != 2 || nf_flow_dim(b) != 2)
        return nf_fail(NF_ERR_DIMENSION, "%s: pictures are for 2-D models", path);
    if (n_samples < 1 || n_samples > (size_t)1 << 26)
        return nf_fail(NF_ERR_INVALID, "%s: %zu samples (1 .. 2^26)", path, n_samples);
    if (!title_a)
        title_a = "a";
    if (!title_b)
        title_b = "b";
    float *sa = malloc(sizeof(float) * 2 * n_samples), *sb = malloc(sizeof(float) * 2 * n_samples);
    float *pts = malloc(sizeof(float) * 2 * PLOT_GRID * PLOT_GRID);
    double *ga = malloc(sizeof(double) * PLOT_GRID * PLOT_GRID), *gb = malloc(sizeof(double) * PLOT_GRID * PLOT_GRID);
    nf_status st = sa && sb && pts && ga && gb ? NF_OK : nf_fail(NF_ERR_NOMEM, "out of memory plotting %s", path);
    if (!st)
        st = nf_flow_sample(a, n_samples, seed, sa, NULL);
    if (!st)
        st = nf_flow_sample(b, n_samples, seed, sb, NULL);
    if (!st && !(lo < hi))
        plot_box_of(sa, n_samples, NULL, 0, &lo, &hi);
    if (!st) {
        plot_grid_points(lo, hi, pts);
        st = plot_flow_density(a, pts, ga);
    }
    if (!st)
        st = plot_flow_density(b, pts, gb);
    if (!st) {
        char t[4][96];
        snprintf(t[0], sizeof t[0], "%s density", title_a);
        snprintf(t[1], sizeof t[1], "%s density", title_b);
        snprintf(t[2], sizeof t[2], "%s samples", title_a);
        snprintf(t[3], sizeof t[3], "%s samples", title_b);
        plot_panel panels[4] = {
            {t[0], ga, PLOT_GRID, PLOT_GRID, NULL, 0},
            {t[1], gb, PLOT_GRID, PLOT_GRID, NULL, 0},
            {t[2], NULL, 0, 0, sa, n_samples},
            {t[3], NULL, 0, 0, sb, n_samples},
        };
        st = plot_write_png(path, panels, 4, PLOT_PANEL, lo, hi);
    }
    free(sa);
    free(sb);
    free(pts);
    free(ga);
    free(gb);
    return st;
}
