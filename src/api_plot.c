/* nf_plot_png: the learned density on a grid beside data and samples. */
#include <math.h>
#include <stdlib.h>

#include "error.h"
#include "flow.h"
#include "plot.h"

enum { GRID = 200, PANEL = 360 };

/* A square box holding the points, padded by 10%. */
static void box_of(const float *a, size_t na, const float *b, size_t nb, double *lo, double *hi)
{
    double mn = INFINITY, mx = -INFINITY;
    for (int k = 0; k < 2; k++) {
        const float *p = k ? b : a;
        size_t n = k ? nb : na;
        for (size_t i = 0; p && i < 2 * n; i++) {
            if (!isfinite(p[i]))
                continue;
            mn = fmin(mn, p[i]);
            mx = fmax(mx, p[i]);
        }
    }
    if (!(mn < mx)) {
        mn = -4;
        mx = 4;
    }
    double pad = 0.1 * (mx - mn);
    *lo = mn - pad;
    *hi = mx + pad;
}

nf_status nf_plot_png(nf_flow *f, const char *path, const float *data, size_t n_data, const float *samples,
                      size_t n_samples, double lo, double hi)
{
    if (!f || f->dim != 2)
        return nf_fail(NF_ERR_DIMENSION, "%s: pictures are for 2-D models", path);
    if (!(lo < hi))
        box_of(data, n_data, samples, n_samples, &lo, &hi);
    float *pts = malloc(sizeof(float) * 2 * GRID * GRID);
    double *grid = malloc(sizeof(double) * GRID * GRID);
    nf_status st = pts && grid ? NF_OK : nf_fail(NF_ERR_NOMEM, "out of memory plotting %s", path);
    for (int r = 0; !st && r < GRID; r++)
        for (int c = 0; c < GRID; c++) {
            size_t k = (size_t)r * GRID + c;
            pts[2 * k] = (float)(lo + (hi - lo) * (c + 0.5) / GRID);
            pts[2 * k + 1] = (float)(hi - (hi - lo) * (r + 0.5) / GRID);
        }
    if (!st)
        st = nf_flow_log_prob(f, pts, GRID * GRID, grid);
    if (!st) {
        for (int k = 0; k < GRID * GRID; k++)
            grid[k] = exp(grid[k]);
        plot_panel panels[3] = {{"model density", grid, GRID, GRID, NULL, 0}};
        int n = 1;
        if (data)
            panels[n++] = (plot_panel){"data", NULL, 0, 0, data, n_data};
        if (samples)
            panels[n++] = (plot_panel){"model samples", NULL, 0, 0, samples, n_samples};
        st = plot_write_png(path, panels, n, PANEL, lo, hi);
    }
    free(pts);
    free(grid);
    return st;
}
