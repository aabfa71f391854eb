/* Grids of images (nf_plot_images_png): an image model's samples. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "extras/nflow_extras.h"
#include "extras/plot.h"

enum { IMAGE_GAP = 2, IMAGE_MIN_SIDE = 64, GRID_MAX_SIDE = 16384 };

nf_status nf_plot_images_png(const char *path, const float *x, size_t n, const int shape[3], int columns)
{
    if (!path || !x || !shape)
        return nf_fail(NF_ERR_INVALID, "image grid: NULL argument");
    int h = shape[0], w = shape[1], c = shape[2];
    if (h < 1 || w < 1 || (c != 1 && c != 3) || h > 4096 || w > 4096)
        return nf_fail(NF_ERR_INVALID, "%s: images of %d x %d x %d: a grid draws 1 (grey) or 3 (colour) channels",
                       path, h, w, c);
    if (n < 1 || n > 65536 || columns < 0)
        return nf_fail(NF_ERR_INVALID, "%s: %zu images in %d columns (1 to 65536 images)", path, n, columns);
    int cols = columns ? columns : (int)ceil(sqrt((double)n));
    if ((size_t)cols > n)
        cols = (int)n;
    int rows = (int)((n + (size_t)cols - 1) / (size_t)cols);
    int side = h > w ? h : w, scale = side >= IMAGE_MIN_SIDE ? 1 : (IMAGE_MIN_SIDE + side - 1) / side;
    double width = (double)cols * (w * scale + IMAGE_GAP) + IMAGE_GAP,
           height = (double)rows * (h * scale + IMAGE_GAP) + IMAGE_GAP;
    if (width > GRID_MAX_SIDE || height > GRID_MAX_SIDE)
        return nf_fail(NF_ERR_INVALID, "%s: a grid of %d x %d images of %d x %d is too large (at most %d pixels a side)",
                       path, cols, rows, h, w, GRID_MAX_SIDE);
    int pw = (int)width, ph = (int)height;
    unsigned char *rgb = malloc((size_t)pw * ph * 3);
    if (!rgb)
        return nf_fail(NF_ERR_NOMEM, "%s: out of memory for the image grid", path);
    memset(rgb, 255, (size_t)pw * ph * 3);
    for (size_t k = 0; k < n; k++) {
        int x0 = IMAGE_GAP + (int)(k % (size_t)cols) * (w * scale + IMAGE_GAP);
        int y0 = IMAGE_GAP + (int)(k / (size_t)cols) * (h * scale + IMAGE_GAP);
        const float *img = x + k * (size_t)h * w * c;
        for (int y = 0; y < h * scale; y++)
            for (int xx = 0; xx < w * scale; xx++) {
                const float *px = img + ((size_t)(y / scale) * w + xx / scale) * c;
                unsigned char *q = rgb + ((size_t)(y0 + y) * pw + x0 + xx) * 3;
                for (int j = 0; j < 3; j++) {
                    float v = px[c == 3 ? j : 0]; /* a value v in [0, 256) shows as floor(v); NaN as black */
                    q[j] = (unsigned char)(v >= 255 ? 255 : v > 0 ? (int)v : 0);
                }
            }
    }
    nf_status st = plot_write_rgb_png(path, rgb, pw, ph);
    free(rgb);
    return st;
}
