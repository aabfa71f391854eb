/* nf_plot_compare_png: two 2-D models' densities and samples side by side.
 * The grid and box code mirrors api_plot.c (whose helpers are static). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "error.h"
#include "plot.h"

enum { GRID = 200, PANEL = 360 };

/* A square box holding the points, padded by 10% (as nf_plot_png). */
static void box_of(const float *p, size_t n, double *lo, double *hi)
{
    double mn = INFINITY, mx = -INFINITY;
    for (size_t i = 0; i < 2 * n; i++) {
        if (!isfinite(p[i]))
            continue;
        mn = fmin(mn, p[i]);
        mx = fmax(mx, p[i]);
    }
    if (!(mn < mx)) {
        mn = -4;
        mx = 4;
    }
    double pad = 0.1 * (mx - mn);
    *lo = mn - pad;
    *hi = mx + pad;
}

/* The density of f at the cell centres, row 0 at the top (plot.h). */
static nf_status density_grid(nf_flow *f, const float *pts, double *grid)
{
    nf_status st = nf_flow_log_prob(f, pts, GRID * GRID, grid);
    for (int k = 0; !st && k < GRID * GRID; k++)
        grid[k] = exp(grid[k]);
    return st;
}

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
    float *pts = malloc(sizeof(float) * 2 * GRID * GRID);
    double *ga = malloc(sizeof(double) * GRID * GRID), *gb = malloc(sizeof(double) * GRID * GRID);
    nf_status st = sa && sb && pts && ga && gb ? NF_OK : nf_fail(NF_ERR_NOMEM, "out of memory plotting %s", path);
    if (!st)
        st = nf_flow_sample(a, n_samples, seed, sa, NULL);
    if (!st)
        st = nf_flow_sample(b, n_samples, seed, sb, NULL);
    if (!st && !(lo < hi))
        box_of(sa, n_samples, &lo, &hi);
    for (int r = 0; !st && r < GRID; r++)
        for (int c = 0; c < GRID; c++) {
            size_t k = (size_t)r * GRID + c;
            pts[2 * k] = (float)(lo + (hi - lo) * (c + 0.5) / GRID);
            pts[2 * k + 1] = (float)(hi - (hi - lo) * (r + 0.5) / GRID);
        }
    if (!st)
        st = density_grid(a, pts, ga);
    if (!st)
        st = density_grid(b, pts, gb);
    if (!st) {
        char t[4][96];
        snprintf(t[0], sizeof t[0], "%s density", title_a);
        snprintf(t[1], sizeof t[1], "%s density", title_b);
        snprintf(t[2], sizeof t[2], "%s samples", title_a);
        snprintf(t[3], sizeof t[3], "%s samples", title_b);
        plot_panel panels[4] = {
            {t[0], ga, GRID, GRID, NULL, 0},
            {t[1], gb, GRID, GRID, NULL, 0},
            {t[2], NULL, 0, 0, sa, n_samples},
            {t[3], NULL, 0, 0, sb, n_samples},
        };
        st = plot_write_png(path, panels, 4, PANEL, lo, hi);
    }
    free(sa);
    free(sb);
    free(pts);
    free(ga);
    free(gb);
    return st;
}
