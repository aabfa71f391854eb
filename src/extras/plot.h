/* PNG pictures for 2-D models, through libpng. Internal; the public entry
 * points are nf_plot_*_png (src/extras/nflow_extras.h). */
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

/* An RGB picture (w x h pixels, 3 bytes each, row 0 at the top) to path,
 * through a temporary file as plot_write_png. */
nf_status plot_write_rgb_png(const char *path, const unsigned char *rgb, int w, int h);

#endif
