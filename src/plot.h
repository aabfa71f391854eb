/* PNG pictures for 2-D models, through libpng. Internal; the public entry
 * point is nf_plot_png (include/nflow.h). */
#ifndef NF_PLOT_H
#define NF_PLOT_H

#include <stddef.h>

#include "nflow.h"

typedef struct plot_panel {
    const char *title;         /* drawn above the panel (ASCII; may be NULL) */
    /* either a heat map: grid of gw x gh values, row 0 at the TOP (largest
     * y), column 0 at the left (smallest x), NAN allowed (drawn as the
     * lowest colour) ... */
    const double *grid;
    int gw, gh;
    /* ... or a scatter plot of n points (n x 2, row-major). */
    const float *points;
    size_t n_points;
} plot_panel;

/* Writes the panels side by side, each `size` pixels square, covering the box
 * [lo, hi]^2 in data units, to `path` (through a temporary file renamed
 * when complete). A heat map is coloured with a perceptual colour map from
 * its minimum to its maximum value. */
nf_status plot_write_png(const char *path, const plot_panel *panels, int n_panels, int size, double lo, double hi);

/* Cells per side of the density heat maps, pixels per panel. */
enum { PLOT_GRID = 200, PLOT_PANEL = 360 };

/* A square box holding the points (either set may be NULL), padded by 10%;
 * [-4.4, 4.4] without points. */
void plot_box_of(const float *a, size_t na, const float *b, size_t nb, double *lo, double *hi);
/* The PLOT_GRID^2 cell centres of [lo, hi]^2 (pts: 2 PLOT_GRID^2 floats),
 * row 0 at the top as plot_panel wants. */
void plot_grid_points(double lo, double hi, float *pts);
/* exp(v - max v) in place: colours need only relative densities, and the
 * shift keeps a sharp model from overflowing. */
void plot_relative_density(double *v, size_t n);
/* f's relative density at the grid points, into grid (PLOT_GRID^2). */
nf_status plot_flow_density(nf_flow *f, const float *pts, double *grid);

#endif
