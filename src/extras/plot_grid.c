/* What every 2-D picture shares: the plotting box, the grid of cell
 * centres, and a model's (relative) density on it. */
#include <math.h>

#include "extras/plot_grid.h"

void plot_box_of(const float *a, size_t na, const float *b, size_t nb, double *lo, double *hi)
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

void plot_grid_points(double lo, double hi, float *pts)
{
    for (int r = 0; r < PLOT_GRID; r++)
        for (int c = 0; c < PLOT_GRID; c++) {
            size_t k = (size_t)r * PLOT_GRID + c;
            pts[2 * k] = (float)(lo + (hi - lo) * (c + 0.5) / PLOT_GRID);
            pts[2 * k + 1] = (float)(hi - (hi - lo) * (r + 0.5) / PLOT_GRID);
        }
}

void plot_relative_density(double *v, size_t n)
{
    double mx = -INFINITY;
    for (size_t i = 0; i < n; i++)
        if (isfinite(v[i]) && v[i] > mx)
            mx = v[i];
    for (size_t i = 0; i < n; i++)
        v[i] = isfinite(mx) ? exp(v[i] - mx) : NAN;
}

nf_status plot_flow_density(nf_flow *f, const float *pts, double *grid)
{
    nf_status st = nf_flow_log_prob(f, pts, (size_t)PLOT_GRID * PLOT_GRID, grid);
    if (!st)
        plot_relative_density(grid, (size_t)PLOT_GRID * PLOT_GRID);
    return st;
}
