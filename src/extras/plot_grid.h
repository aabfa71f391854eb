/* The grid of a density heat map, and a model's density on it. */
#ifndef NF_PLOT_GRID_H
#define NF_PLOT_GRID_H

#include <stddef.h>

#include "nflow.h"

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
