/* PNG pictures of 2-D densities and point sets, through libpng.
 *
 * Layout, for n panels of `size` pixels (s = 1 + size / 256 is the font
 * scale, g = 4 + size / 64 the gap):
 *   width  = n * size + (n + 1) * g
 *   height = g + T + size + g, T = 11 s when some panel has a title, else 0
 * panel i covers columns g + i (size + g) .. + size - 1 and rows g + T ..
 * + size - 1, inside a 1-pixel grey frame; its title is centred in the band
 * of height T above it, in a 5x7 bitmap font scaled by s. The background is
 * white.
 *
 * A heat map is bilinearly interpolated between cell centres and coloured
 * with a viridis-like map from its smallest to its largest finite value
 * (NaN and -inf: the lowest colour, +inf the highest). Scatter points are
 * dots of 2x2 (size < 300) or 3x3 pixels in dark blue, blended with an
 * opacity chosen from the number of points and the panel's area, so that
 * dense regions are darker; points outside the box or not finite are
 * skipped. A panel may have both a grid and points: the points are drawn
 * over the heat map. */
#include "extras/plot.h"

#include <errno.h>
#include <math.h>
#include <png.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/atomic_file.h"
#include "core/error.h"

/* ---- the font: ASCII 32..126, 5 columns of 7 bits (bit 0 = top row) ---- */

static const unsigned char font5x7[95][5] = {
    {0x00, 0x00, 0x00, 0x00, 0x00}, {0x00, 0x00, 0x5F, 0x00, 0x00}, {0x00, 0x07, 0x00, 0x07, 0x00}, /*  !" */
    {0x14, 0x7F, 0x14, 0x7F, 0x14}, {0x24, 0x2A, 0x7F, 0x2A, 0x12}, {0x23, 0x13, 0x08, 0x64, 0x62}, /* #$% */
    {0x36, 0x49, 0x55, 0x22, 0x50}, {0x00, 0x05, 0x03, 0x00, 0x00}, {0x00, 0x1C, 0x22, 0x41, 0x00}, /* &'( */
    {0x00, 0x41, 0x22, 0x1C, 0x00}, {0x08, 0x2A, 0x1C, 0x2A, 0x08}, {0x08, 0x08, 0x3E, 0x08, 0x08}, /* )*+ */
    {0x00, 0x50, 0x30, 0x00, 0x00}, {0x08, 0x08, 0x08, 0x08, 0x08}, {0x00, 0x60, 0x60, 0x00, 0x00}, /* ,-. */
    {0x20, 0x10, 0x08, 0x04, 0x02}, {0x3E, 0x51, 0x49, 0x45, 0x3E}, {0x00, 0x42, 0x7F, 0x40, 0x00}, /* /01 */
    {0x42, 0x61, 0x51, 0x49, 0x46}, {0x21, 0x41, 0x45, 0x4B, 0x31}, {0x18, 0x14, 0x12, 0x7F, 0x10}, /* 234 */
    {0x27, 0x45, 0x45, 0x45, 0x39}, {0x3C, 0x4A, 0x49, 0x49, 0x30}, {0x01, 0x71, 0x09, 0x05, 0x03}, /* 567 */
    {0x36, 0x49, 0x49, 0x49, 0x36}, {0x06, 0x49, 0x49, 0x29, 0x1E}, {0x00, 0x36, 0x36, 0x00, 0x00}, /* 89: */
    {0x00, 0x56, 0x36, 0x00, 0x00}, {0x08, 0x14, 0x22, 0x41, 0x00}, {0x14, 0x14, 0x14, 0x14, 0x14}, /* ;<= */
    {0x00, 0x41, 0x22, 0x14, 0x08}, {0x02, 0x01, 0x51, 0x09, 0x06}, {0x32, 0x49, 0x79, 0x41, 0x3E}, /* >?@ */
    {0x7E, 0x11, 0x11, 0x11, 0x7E}, {0x7F, 0x49, 0x49, 0x49, 0x36}, {0x3E, 0x41, 0x41, 0x41, 0x22}, /* ABC */
    {0x7F, 0x41, 0x41, 0x22, 0x1C}, {0x7F, 0x49, 0x49, 0x49, 0x41}, {0x7F, 0x09, 0x09, 0x09, 0x01}, /* DEF */
    {0x3E, 0x41, 0x49, 0x49, 0x7A}, {0x7F, 0x08, 0x08, 0x08, 0x7F}, {0x00, 0x41, 0x7F, 0x41, 0x00}, /* GHI */
    {0x20, 0x40, 0x41, 0x3F, 0x01}, {0x7F, 0x08, 0x14, 0x22, 0x41}, {0x7F, 0x40, 0x40, 0x40, 0x40}, /* JKL */
    {0x7F, 0x02, 0x0C, 0x02, 0x7F}, {0x7F, 0x04, 0x08, 0x10, 0x7F}, {0x3E, 0x41, 0x41, 0x41, 0x3E}, /* MNO */
    {0x7F, 0x09, 0x09, 0x09, 0x06}, {0x3E, 0x41, 0x51, 0x21, 0x5E}, {0x7F, 0x09, 0x19, 0x29, 0x46}, /* PQR */
    {0x46, 0x49, 0x49, 0x49, 0x31}, {0x01, 0x01, 0x7F, 0x01, 0x01}, {0x3F, 0x40, 0x40, 0x40, 0x3F}, /* STU */
    {0x1F, 0x20, 0x40, 0x20, 0x1F}, {0x3F, 0x40, 0x38, 0x40, 0x3F}, {0x63, 0x14, 0x08, 0x14, 0x63}, /* VWX */
    {0x07, 0x08, 0x70, 0x08, 0x07}, {0x61, 0x51, 0x49, 0x45, 0x43}, {0x00, 0x7F, 0x41, 0x41, 0x00}, /* YZ[ */
    {0x02, 0x04, 0x08, 0x10, 0x20}, {0x00, 0x41, 0x41, 0x7F, 0x00}, {0x04, 0x02, 0x01, 0x02, 0x04}, /* \]^ */
    {0x40, 0x40, 0x40, 0x40, 0x40}, {0x00, 0x01, 0x02, 0x04, 0x00}, {0x20, 0x54, 0x54, 0x54, 0x78}, /* _`a */
    {0x7F, 0x48, 0x44, 0x44, 0x38}, {0x38, 0x44, 0x44, 0x44, 0x20}, {0x38, 0x44, 0x44, 0x48, 0x7F}, /* bcd */
    {0x38, 0x54, 0x54, 0x54, 0x18}, {0x08, 0x7E, 0x09, 0x01, 0x02}, {0x0C, 0x52, 0x52, 0x52, 0x3E}, /* efg */
    {0x7F, 0x08, 0x04, 0x04, 0x78}, {0x00, 0x44, 0x7D, 0x40, 0x00}, {0x20, 0x40, 0x44, 0x3D, 0x00}, /* hij */
    {0x7F, 0x10, 0x28, 0x44, 0x00}, {0x00, 0x41, 0x7F, 0x40, 0x00}, {0x7C, 0x04, 0x18, 0x04, 0x78}, /* klm */
    {0x7C, 0x08, 0x04, 0x04, 0x78}, {0x38, 0x44, 0x44, 0x44, 0x38}, {0x7C, 0x14, 0x14, 0x14, 0x08}, /* nop */
    {0x08, 0x14, 0x14, 0x18, 0x7C}, {0x7C, 0x08, 0x04, 0x04, 0x08}, {0x48, 0x54, 0x54, 0x54, 0x20}, /* qrs */
    {0x04, 0x3F, 0x44, 0x40, 0x20}, {0x3C, 0x40, 0x40, 0x20, 0x7C}, {0x1C, 0x20, 0x40, 0x20, 0x1C}, /* tuv */
    {0x3C, 0x40, 0x30, 0x40, 0x3C}, {0x44, 0x28, 0x10, 0x28, 0x44}, {0x0C, 0x50, 0x50, 0x50, 0x3C}, /* wxy */
    {0x44, 0x64, 0x54, 0x4C, 0x44}, {0x00, 0x08, 0x36, 0x41, 0x00}, {0x00, 0x00, 0x7F, 0x00, 0x00}, /* z{| */
    {0x00, 0x41, 0x36, 0x08, 0x00}, {0x02, 0x01, 0x02, 0x04, 0x02},                                  /* }~ */
};

/* ---- the colour map: viridis at 9 anchors, interpolated linearly ------ */

static const unsigned char viridis[9][3] = {
    {68, 1, 84},    {71, 44, 122},  {59, 81, 139},  {44, 113, 142}, {33, 144, 141},
    {39, 173, 129}, {92, 200, 99},  {170, 220, 50}, {253, 231, 37},
};

static void colormap(double t, unsigned char *rgb)
{
    if (!(t > 0.0)) /* NaN too */
        t = 0.0;
    if (t > 1.0)
        t = 1.0;
    double u = t * 8.0;
    int i = (int)u;
    if (i > 7)
        i = 7;
    double f = u - i;
    for (int c = 0; c < 3; c++)
        rgb[c] = (unsigned char)lround(viridis[i][c] + f * (viridis[i + 1][c] - viridis[i][c]));
}

/* ---- drawing --------------------------------------------------------- */

typedef struct canvas {
    unsigned char *rgb;
    int w, h;
} canvas;

static void put(canvas *cv, int x, int y, const unsigned char *c)
{
    if (x < 0 || y < 0 || x >= cv->w || y >= cv->h)
        return;
    unsigned char *p = cv->rgb + 3 * ((size_t)y * cv->w + x);
    p[0] = c[0];
    p[1] = c[1];
    p[2] = c[2];
}

static void draw_text(canvas *cv, const char *text, int cx, int top, int max_w, int s)
{
    static const unsigned char ink[3] = {30, 30, 30};
    int n = (int)strlen(text), fit = (max_w + s) / (6 * s);
    if (n > fit)
        n = fit;
    int width = n * 6 * s - s, x0 = cx - width / 2;
    for (int i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)text[i];
        const unsigned char *g = font5x7[(ch >= 32 && ch <= 126 ? ch : '?') - 32];
        for (int col = 0; col < 5; col++)
            for (int row = 0; row < 7; row++)
                if (g[col] >> row & 1)
                    for (int dy = 0; dy < s; dy++)
                        for (int dx = 0; dx < s; dx++)
                            put(cv, x0 + (i * 6 + col) * s + dx, top + row * s + dy, ink);
    }
}

static void draw_heat(canvas *cv, const plot_panel *p, int x0, int y0, int size)
{
    double lo = INFINITY, hi = -INFINITY;
    size_t n = (size_t)p->gw * (size_t)p->gh;
    for (size_t i = 0; i < n; i++)
        if (isfinite(p->grid[i])) {
            lo = p->grid[i] < lo ? p->grid[i] : lo;
            hi = p->grid[i] > hi ? p->grid[i] : hi;
        }
    double span = hi > lo ? hi - lo : 1.0;
    for (int py = 0; py < size; py++) {
        /* cell centres at (i + 0.5) / g of the panel */
        double gy = (py + 0.5) * p->gh / size - 0.5;
        gy = gy < 0.0 ? 0.0 : gy > p->gh - 1 ? p->gh - 1 : gy;
        int r0 = (int)gy, r1 = r0 + 1 < p->gh ? r0 + 1 : r0;
        double fy = gy - r0;
        for (int px = 0; px < size; px++) {
            double gx = (px + 0.5) * p->gw / size - 0.5;
            gx = gx < 0.0 ? 0.0 : gx > p->gw - 1 ? p->gw - 1 : gx;
            int c0 = (int)gx, c1 = c0 + 1 < p->gw ? c0 + 1 : c0;
            double fx = gx - c0;
            double v00 = p->grid[(size_t)r0 * p->gw + c0], v01 = p->grid[(size_t)r0 * p->gw + c1];
            double v10 = p->grid[(size_t)r1 * p->gw + c0], v11 = p->grid[(size_t)r1 * p->gw + c1];
            double v;
            if (isfinite(v00) && isfinite(v01) && isfinite(v10) && isfinite(v11))
                v = (1 - fy) * ((1 - fx) * v00 + fx * v01) + fy * ((1 - fx) * v10 + fx * v11);
            else /* the nearest cell */
                v = p->grid[(size_t)(fy < 0.5 ? r0 : r1) * p->gw + (fx < 0.5 ? c0 : c1)];
            double t = v == INFINITY ? 1.0 : isfinite(v) ? (v - lo) / span : 0.0;
            unsigned char c[3];
            colormap(t, c);
            put(cv, x0 + px, y0 + py, c);
        }
    }
}

static nf_status draw_points(canvas *cv, const plot_panel *p, int x0, int y0, int size, double lo, double hi,
                             const char *path)
{
    static const unsigned char dot_rgb[3] = {20, 40, 130};
    unsigned *hits = calloc((size_t)size * size, sizeof *hits);
    if (!hits)
        return nf_fail(NF_ERR_NOMEM, "%s: out of memory drawing points", path);
    int dot = size < 300 ? 2 : 3;
    size_t drawn = 0;
    double scale = size / (hi - lo);
    for (size_t i = 0; i < p->n_points; i++) {
        double x = p->points[2 * i], y = p->points[2 * i + 1];
        if (!(x >= lo && x <= hi && y >= lo && y <= hi)) /* NaN too */
            continue;
        int px = (int)((x - lo) * scale), py = (int)((hi - y) * scale);
        px = px < size ? px : size - 1;
        py = py < size ? py : size - 1;
        for (int dy = 0; dy < dot; dy++)
            for (int dx = 0; dx < dot; dx++) {
                int qx = px - dot / 2 + dx, qy = py - dot / 2 + dy;
                if (qx >= 0 && qy >= 0 && qx < size && qy < size && hits[(size_t)qy * size + qx] < 100000)
                    hits[(size_t)qy * size + qx]++;
            }
        drawn++;
    }
    /* opacity: about 0.5 / (dots per pixel where the points are, taken to
     * cover a quarter of the panel), so that dense regions are darker
     * without turning flat; single points stay visible */
    double alpha = drawn ? 0.5 * size * (double)size / (4.0 * drawn * dot * dot) : 1.0;
    alpha = alpha < 0.02 ? 0.02 : alpha > 0.7 ? 0.7 : alpha;
    for (int py = 0; py < size; py++)
        for (int px = 0; px < size; px++) {
            unsigned k = hits[(size_t)py * size + px];
            if (!k)
                continue;
            unsigned char *q = cv->rgb + 3 * ((size_t)(y0 + py) * cv->w + (x0 + px));
            double keep = pow(1.0 - alpha, (double)k);
            for (int c = 0; c < 3; c++)
                q[c] = (unsigned char)lround(q[c] * keep + dot_rgb[c] * (1.0 - keep));
        }
    free(hits);
    return NF_OK;
}

static void draw_frame(canvas *cv, int x0, int y0, int size)
{
    static const unsigned char grey[3] = {150, 150, 150};
    for (int i = -1; i <= size; i++) {
        put(cv, x0 + i, y0 - 1, grey);
        put(cv, x0 + i, y0 + size, grey);
        put(cv, x0 - 1, y0 + i, grey);
        put(cv, x0 + size, y0 + i, grey);
    }
}

/* ---- libpng ------------------------------------------------------------ */

typedef struct png_error_state {
    char msg[200];
    int errno_seen; /* errno when libpng gave up: a failed write's reason */
} png_error_state;

static void on_png_error(png_structp png, png_const_charp msg)
{
    png_error_state *e = png_get_error_ptr(png);
    e->errno_seen = errno;
    snprintf(e->msg, sizeof e->msg, "%s", msg);
    png_longjmp(png, 1);
}

static void on_png_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;
}

static void png_body(png_structp png, png_infop info, FILE *fp, const canvas *cv)
{
    png_init_io(png, fp);
    png_set_IHDR(png, info, (png_uint_32)cv->w, (png_uint_32)cv->h, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < cv->h; y++)
        png_write_row(png, cv->rgb + 3 * (size_t)y * cv->w);
    png_write_end(png, info);
}

/* Writes the canvas to path through a temporary file. `err` lives in the
 * caller so that nothing this function's setjmp returns to was changed. */
static nf_status write_png(const char *path, const canvas *cv, png_error_state *err)
{
    atomic_file af;
    nf_status st = atomic_open(&af, path);
    if (st)
        return st;
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, err, on_png_error, on_png_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info) {
        png_destroy_write_struct(&png, &info);
        atomic_abort(&af);
        return nf_fail(NF_ERR_NOMEM, "%s: out of memory starting libpng", path);
    }
    if (setjmp(png_jmpbuf(png))) {
        /* a failed write (a full disk, a file size limit) says why, as every
         * other file's does; libpng's own message only says "Write Error" */
        int write_failed = ferror(af.fp) && err->errno_seen;
        png_destroy_write_struct(&png, &info);
        atomic_abort(&af);
        if (write_failed)
            return nf_fail(NF_ERR_IO, "%s: write failed: %s", path, strerror(err->errno_seen));
        return nf_fail(NF_ERR_IO, "%s: cannot write the PNG: %s", path, err->msg);
    }
    png_body(png, info, af.fp, cv);
    png_destroy_write_struct(&png, &info);
    return atomic_commit(&af);
}

nf_status plot_write_rgb_png(const char *path, const unsigned char *rgb, int w, int h)
{
    canvas cv = {(unsigned char *)rgb, w, h}; /* write_png only reads it */
    png_error_state err = {{0}, 0};
    return write_png(path, &cv, &err);
}

/* ---- entry point ----------------------------------------------------------- */

nf_status plot_write_png(const char *path, const plot_panel *panels, int n_panels, int size, double lo, double hi)
{
    if (!path)
        return nf_fail(NF_ERR_INVALID, "plot: path is NULL");
    if (!panels)
        return nf_fail(NF_ERR_INVALID, "%s: panels is NULL", path);
    if (n_panels < 1 || n_panels > 8)
        return nf_fail(NF_ERR_INVALID, "%s: %d panels (1 to 8 allowed)", path, n_panels);
    if (size < 16 || size > 2048)
        return nf_fail(NF_ERR_INVALID, "%s: panel size %d (16 to 2048 pixels allowed)", path, size);
    if (!(lo < hi) || !isfinite(lo) || !isfinite(hi))
        return nf_fail(NF_ERR_INVALID, "%s: plotting box [%g, %g] is empty or not finite", path, lo, hi);
    int titled = 0;
    for (int i = 0; i < n_panels; i++) {
        const plot_panel *p = &panels[i];
        if (!p->grid && !p->points)
            return nf_fail(NF_ERR_INVALID, "%s: panel %d has neither a grid nor points", path, i);
        if (p->grid && (p->gw < 1 || p->gh < 1 || p->gw > 65536 || p->gh > 65536))
            return nf_fail(NF_ERR_INVALID, "%s: panel %d: grid of %d x %d cells (1 to 65536 each allowed)", path,
                           i, p->gw, p->gh);
        if (p->title && p->title[0])
            titled = 1;
    }
    for (int i = 0; i < n_panels; i++)
        if (!panels[i].points && panels[i].n_points)
            return nf_fail(NF_ERR_INVALID, "%s: panel %d: %zu points but no array", path, i, panels[i].n_points);

    int s = 1 + size / 256, gap = 4 + size / 64, band = titled ? 11 * s : 0;
    canvas cv = {NULL, n_panels * size + (n_panels + 1) * gap, gap + band + size + gap};
    cv.rgb = malloc(3 * (size_t)cv.w * (size_t)cv.h);
    if (!cv.rgb)
        return nf_fail(NF_ERR_NOMEM, "%s: out of memory for a %d x %d picture", path, cv.w, cv.h);
    memset(cv.rgb, 255, 3 * (size_t)cv.w * (size_t)cv.h);

    nf_status st = NF_OK;
    for (int i = 0; i < n_panels && !st; i++) {
        const plot_panel *p = &panels[i];
        int x0 = gap + i * (size + gap), y0 = gap + band;
        if (p->grid)
            draw_heat(&cv, p, x0, y0, size);
        if (p->points)
            st = draw_points(&cv, p, x0, y0, size, lo, hi, path);
        draw_frame(&cv, x0, y0, size);
        if (p->title && p->title[0])
            draw_text(&cv, p->title, x0 + size / 2, gap + s, size, s);
    }
    png_error_state err = {.msg = ""};
    if (!st)
        st = write_png(path, &cv, &err);
    free(cv.rgb);
    return st;
}
