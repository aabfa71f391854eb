/* plot_write_png: pictures read back with libpng and checked pixel by
 * pixel against what was drawn; invalid arguments and write failures
 * leave no file behind. */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <png.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "extras/nflow_extras.h"
#include "nflow.h"
#include "extras/plot.h"

static char dir[64];

static const char *in_dir(const char *name)
{
    static char buf[4][128];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

static int file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* Entries of the test folder (temporary files included). */
static int dir_entries(void)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    if (d)
        closedir(d);
    return n;
}

typedef struct image {
    int w, h;
    unsigned char *rgb;
} image;

static int read_png(const char *path, image *im)
{
    png_image p;
    memset(&p, 0, sizeof p);
    p.version = PNG_IMAGE_VERSION;
    im->rgb = NULL;
    if (!png_image_begin_read_from_file(&p, path))
        return -1;
    /* 8-bit RGB in the file: colour, no alpha, not 16-bit */
    int ok = (p.format & PNG_FORMAT_FLAG_COLOR) && !(p.format & PNG_FORMAT_FLAG_ALPHA) &&
             !(p.format & PNG_FORMAT_FLAG_LINEAR) && !(p.format & PNG_FORMAT_FLAG_COLORMAP);
    CHECK(ok, "%s: format 0x%x", path, p.format);
    p.format = PNG_FORMAT_RGB;
    im->w = (int)p.width;
    im->h = (int)p.height;
    im->rgb = malloc(PNG_IMAGE_SIZE(p));
    if (!im->rgb || !png_image_finish_read(&p, NULL, im->rgb, 0, NULL)) {
        png_image_free(&p);
        free(im->rgb);
        im->rgb = NULL;
        return -1;
    }
    return 0;
}

static const unsigned char *px(const image *im, int x, int y) { return im->rgb + 3 * ((size_t)y * im->w + x); }

static int is_white(const unsigned char *p) { return p[0] == 255 && p[1] == 255 && p[2] == 255; }

/* The layout documented in src/extras/plot.c. */
typedef struct layout {
    int s, gap, band, w, h;
} layout;

static layout layout_of(int n, int size, int titled)
{
    layout l;
    l.s = 1 + size / 256;
    l.gap = 4 + size / 64;
    l.band = titled ? 11 * l.s : 0;
    l.w = n * size + (n + 1) * l.gap;
    l.h = l.gap + l.band + size + l.gap;
    return l;
}

static int panel_x(const layout *l, int size, int i) { return l->gap + i * (size + l->gap); }

/* pixel of data point (x, y) in panel i */
static void to_pixel(const layout *l, int size, int i, double lo, double hi, double x, double y, int *qx, int *qy)
{
    *qx = panel_x(l, size, i) + (int)((x - lo) / (hi - lo) * size);
    *qy = l->gap + l->band + (int)((hi - y) / (hi - lo) * size);
}

static void test_three_panels(void)
{
    enum { G = 60, SIZE = 200, NP = 40 };
    const double lo = -2.0, hi = 2.0, bx = 0.6, by = -0.9;
    static double grid[G * G];
    for (int r = 0; r < G; r++)
        for (int c = 0; c < G; c++) {
            double x = lo + (hi - lo) * (c + 0.5) / G, y = hi - (hi - lo) * (r + 0.5) / G;
            grid[r * G + c] = exp(-((x - bx) * (x - bx) + (y - by) * (y - by)) / (2 * 0.3 * 0.3));
        }
    /* panel 1: a tight cluster at (-1, 1); panel 2: points on the diagonal,
     * some outside the box or not finite */
    float cluster[2 * NP], diag[2 * NP];
    for (int i = 0; i < NP; i++) {
        cluster[2 * i] = (float)(-1.0 + 0.01 * (i % 5));
        cluster[2 * i + 1] = (float)(1.0 - 0.01 * (i / 5));
        double t = -3.0 + 6.0 * i / (NP - 1);
        diag[2 * i] = (float)t;
        diag[2 * i + 1] = (float)t;
    }
    diag[0] = NAN;
    diag[3] = INFINITY;
    plot_panel panels[3] = {
        {"bump", grid, G, G, NULL, 0},
        {"cluster", NULL, 0, 0, cluster, NP},
        {NULL, NULL, 0, 0, diag, NP},
    };
    const char *path = in_dir("three.png");
    nf_status st = plot_write_png(path, panels, 3, SIZE, lo, hi);
    CHECK(st == NF_OK, "%s", nf_last_error());
    CHECK(dir_entries() == 1, "leftover files");
    image im;
    CHECK(read_png(path, &im) == 0, "cannot read %s back", path);
    if (!im.rgb)
        return;
    layout l = layout_of(3, SIZE, 1);
    CHECK(im.w == l.w && im.h == l.h, "%d x %d, expected %d x %d", im.w, im.h, l.w, l.h);
    if (im.w != l.w || im.h != l.h) {
        free(im.rgb);
        return;
    }
    int top = l.gap + l.band;

    /* heat map: the brightest pixel (viridis' top is yellow: largest R+G)
     * lies at the bump's centre; the corners have the lowest colour */
    int best = -1, bxp = 0, byp = 0, x0 = panel_x(&l, SIZE, 0);
    for (int y = top; y < top + SIZE; y++)
        for (int x = x0; x < x0 + SIZE; x++) {
            const unsigned char *p = px(&im, x, y);
            if (p[0] + p[1] > best) {
                best = p[0] + p[1];
                bxp = x;
                byp = y;
            }
        }
    double cx = lo + (bxp - x0 + 0.5) / SIZE * (hi - lo), cy = hi - (byp - top + 0.5) / SIZE * (hi - lo);
    CHECK(fabs(cx - bx) < 0.05 && fabs(cy - by) < 0.05, "brightest pixel at (%g, %g)", cx, cy);
    const unsigned char *corner = px(&im, x0 + 1, top + 1);
    CHECK(abs(corner[0] - 68) <= 2 && abs(corner[1] - 1) <= 2 && abs(corner[2] - 84) <= 2, "corner %d %d %d",
          corner[0], corner[1], corner[2]);
    const unsigned char *peak = px(&im, bxp, byp);
    CHECK(peak[0] > 230 && peak[1] > 210 && peak[2] < 80, "peak %d %d %d", peak[0], peak[1], peak[2]);
    /* every heat-map pixel is coloured (no white) */
    int white = 0;
    for (int y = top; y < top + SIZE; y++)
        for (int x = x0; x < x0 + SIZE; x++)
            white += is_white(px(&im, x, y));
    CHECK(white == 0, "%d white pixels in the heat map", white);

    /* frames: grey, one pixel outside each panel */
    for (int i = 0; i < 3; i++) {
        int fx = panel_x(&l, SIZE, i) - 1;
        const unsigned char *f = px(&im, fx, top + SIZE / 2), *g = px(&im, fx + SIZE + 1, top + 7);
        CHECK(f[0] == f[1] && f[1] == f[2] && f[0] > 100 && f[0] < 200, "frame %d left", i);
        CHECK(g[0] == g[1] && g[1] == g[2] && g[0] > 100 && g[0] < 200, "frame %d right", i);
        CHECK(is_white(px(&im, fx - 1, top + SIZE / 2)), "gap before panel %d", i);
    }

    /* scatter: dark blue where the cluster is, white elsewhere */
    int qx, qy;
    to_pixel(&l, SIZE, 1, lo, hi, -0.98, 0.97, &qx, &qy);
    const unsigned char *d = px(&im, qx, qy);
    CHECK(d[2] > d[0] && d[0] + d[1] + d[2] < 400, "cluster pixel %d %d %d", d[0], d[1], d[2]);
    int dark = 0, x1 = panel_x(&l, SIZE, 1);
    for (int y = top; y < top + SIZE; y++)
        for (int x = x1; x < x1 + SIZE; x++) {
            const unsigned char *p = px(&im, x, y);
            if (!is_white(p)) {
                dark++;
                double dxp = lo + (x - x1 + 0.5) / SIZE * (hi - lo) + 0.98, dyp = hi - (y - top + 0.5) / SIZE * (hi - lo) - 0.97;
                CHECK(fabs(dxp) < 0.1 && fabs(dyp) < 0.1, "ink at (%g, %g) from the cluster", dxp, dyp);
            }
        }
    CHECK(dark >= 16 && dark < 200, "%d dark pixels", dark);

    /* diagonal: ink on the diagonal only, and in both corners (points at
     * +-2 are inside the box) */
    int x2 = panel_x(&l, SIZE, 2), off = 0, on = 0;
    for (int y = top; y < top + SIZE; y++)
        for (int x = x2; x < x2 + SIZE; x++) {
            if (is_white(px(&im, x, y)))
                continue;
            int anti = (x - x2) + (y - top); /* y = x is px + py = SIZE */
            if (abs(anti - SIZE) > 3)
                off++;
            else
                on++;
        }
    CHECK(off == 0 && on > 0, "%d pixels off the diagonal, %d on", off, on);

    /* titles: ink above the titled panels, none above the untitled one */
    int ink[3] = {0, 0, 0};
    for (int i = 0; i < 3; i++)
        for (int y = 0; y < top - 1; y++)
            for (int x = panel_x(&l, SIZE, i); x < panel_x(&l, SIZE, i) + SIZE; x++)
                ink[i] += !is_white(px(&im, x, y));
    CHECK(ink[0] > 20 && ink[1] > 20 && ink[2] == 0, "title ink %d %d %d", ink[0], ink[1], ink[2]);
    free(im.rgb);
    unlink(path);
}

/* NaN cells take the lowest colour; a constant grid is drawn, not refused;
 * grid and points together: the points over the heat map. */
static void test_special_grids(void)
{
    double grid[4] = {NAN, 1.0, 2.0, INFINITY};
    double flat[9] = {3, 3, 3, 3, 3, 3, 3, 3, 3};
    float pts[2] = {0.0f, 0.0f};
    plot_panel panels[2] = {{NULL, grid, 2, 2, NULL, 0}, {NULL, flat, 3, 3, pts, 1}};
    const char *path = in_dir("special.png");
    CHECK(plot_write_png(path, panels, 2, 16, -1, 1) == NF_OK, "%s", nf_last_error());
    image im;
    CHECK(read_png(path, &im) == 0);
    if (im.rgb) {
        layout l = layout_of(2, 16, 0);
        CHECK(im.w == l.w && im.h == l.h);
        const unsigned char *nan_px = px(&im, l.gap, l.gap), *inf_px = px(&im, l.gap + 15, l.gap + 15);
        CHECK(nan_px[0] == 68 && nan_px[1] == 1 && nan_px[2] == 84, "NaN cell %d %d %d", nan_px[0], nan_px[1],
              nan_px[2]);
        CHECK(inf_px[0] == 253 && inf_px[1] == 231 && inf_px[2] == 37, "+inf cell %d %d %d", inf_px[0], inf_px[1],
              inf_px[2]);
        int x1 = panel_x(&l, 16, 1);
        const unsigned char *c = px(&im, x1 + 8, l.gap + 8), *e = px(&im, x1 + 2, l.gap + 2);
        CHECK(!is_white(e) && (c[0] != e[0] || c[1] != e[1] || c[2] != e[2]), "point over the heat map");
        free(im.rgb);
    }
    unlink(path);
}

static void test_invalid_arguments(void)
{
    double grid[4] = {0, 1, 2, 3};
    float pts[2] = {0, 0};
    plot_panel ok = {"t", grid, 2, 2, NULL, 0}, none = {"t", NULL, 0, 0, NULL, 0};
    plot_panel bad_grid = {"t", grid, 0, 2, NULL, 0}, bad_pts = {"t", NULL, 0, 0, NULL, 5};
    plot_panel nine[9];
    for (int i = 0; i < 9; i++)
        nine[i] = (plot_panel){NULL, NULL, 0, 0, pts, 1};
    const char *path = in_dir("bad.png");
    struct {
        const plot_panel *p;
        int n, size;
        double lo, hi;
        const char *what;
    } cases[] = {
        {&ok, 0, 64, -1, 1, "no panels"},        {nine, 9, 64, -1, 1, "nine panels"},
        {NULL, 1, 64, -1, 1, "NULL panels"},     {&ok, 1, 15, -1, 1, "size 15"},
        {&ok, 1, 2049, -1, 1, "size 2049"},      {&ok, 1, 64, 1, 1, "lo == hi"},
        {&ok, 1, 64, 2, 1, "lo > hi"},           {&ok, 1, 64, NAN, 1, "NaN lo"},
        {&ok, 1, 64, -1, INFINITY, "inf hi"},    {&none, 1, 64, -1, 1, "empty panel"},
        {&bad_grid, 1, 64, -1, 1, "0 x 2 grid"}, {&bad_pts, 1, 64, -1, 1, "points without an array"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        nf_status st = plot_write_png(path, cases[i].p, cases[i].n, cases[i].size, cases[i].lo, cases[i].hi);
        CHECK(st == NF_ERR_INVALID, "%s: status %d", cases[i].what, st);
        CHECK(strlen(nf_last_error()) > 0, "%s: no message", cases[i].what);
        CHECK(!file_exists(path) && dir_entries() == 0, "%s left a file", cases[i].what);
    }
    CHECK(plot_write_png(NULL, &ok, 1, 64, -1, 1) == NF_ERR_INVALID);
    /* the limits themselves are fine; an empty point set is a blank panel */
    plot_panel empty = {"empty", NULL, 0, 0, pts, 0};
    CHECK(plot_write_png(path, &empty, 1, 16, -1, 1) == NF_OK, "%s", nf_last_error());
    CHECK(plot_write_png(path, nine, 8, 16, -1, 1) == NF_OK, "%s", nf_last_error());
    unlink(path);
}

/* A folder that does not exist; a write that fails inside libpng (file
 * size limit): NF_ERR_IO naming the path, no file, no temporary left. */
static void test_io_errors(void)
{
    double grid[4] = {0, 1, 2, 3};
    plot_panel ok = {"t", grid, 2, 2, NULL, 0};
    char missing[128];
    snprintf(missing, sizeof missing, "%s/no/such/folder/x.png", dir);
    CHECK(plot_write_png(missing, &ok, 1, 64, -1, 1) == NF_ERR_IO);
    CHECK(strstr(nf_last_error(), missing) != NULL, "%s", nf_last_error());

    /* noise compresses badly: a 3 x 512^2 picture of it is far above 20 kB */
    enum { G = 256 };
    double *noise = malloc(sizeof(double) * G * G);
    unsigned x = 12345;
    for (int i = 0; i < G * G; i++) {
        x = x * 1103515245u + 12345u;
        noise[i] = (x >> 8) & 0xffff;
    }
    plot_panel big[3] = {{"a", noise, G, G, NULL, 0}, {"b", noise, G, G, NULL, 0}, {"c", noise, G, G, NULL, 0}};
    const char *path = in_dir("toolarge.png");
    struct rlimit old, small;
    getrlimit(RLIMIT_FSIZE, &old);
    small = old;
    small.rlim_cur = 20000;
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    CHECK(setrlimit(RLIMIT_FSIZE, &small) == 0, "%s", strerror(errno));
    nf_status st = plot_write_png(path, big, 3, 512, -1, 1);
    setrlimit(RLIMIT_FSIZE, &old);
    signal(SIGXFSZ, prev);
    CHECK(st == NF_ERR_IO, "status %d: %s", st, nf_last_error());
    CHECK(strstr(nf_last_error(), path) != NULL, "%s", nf_last_error());
    CHECK(!file_exists(path) && dir_entries() == 0, "a file was left behind");
    /* and without the limit the same picture is written */
    CHECK(plot_write_png(path, big, 3, 512, -1, 1) == NF_OK, "%s", nf_last_error());
    CHECK(file_exists(path) && dir_entries() == 1);
    unlink(path);
    free(noise);
}

/* Replacing an existing file: readers see the old or the new picture. */
static void test_overwrite(void)
{
    const char *path = in_dir("over.png");
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f) {
        fputs("not a png", f);
        fclose(f);
    }
    float pts[2] = {0.5f, 0.5f};
    plot_panel p = {"new", NULL, 0, 0, pts, 1};
    CHECK(plot_write_png(path, &p, 1, 32, 0, 1) == NF_OK, "%s", nf_last_error());
    image im;
    CHECK(read_png(path, &im) == 0);
    free(im.rgb);
    CHECK(dir_entries() == 1);
    unlink(path);
}

/* A toy's true density beside its samples: where the samples put ink the
 * heat map is bright, and where the heat map is at its floor there is no
 * ink. */
static void test_toy_picture(void)
{
    enum { G = 100, SIZE = 160, NS = 5000 };
    const double lo = -4.0, hi = 4.0;
    static float grid_pts[2 * G * G], samples[2 * NS];
    static double grid[G * G];
    for (int r = 0; r < G; r++)
        for (int c = 0; c < G; c++) {
            grid_pts[2 * (r * G + c)] = (float)(lo + (hi - lo) * (c + 0.5) / G);
            grid_pts[2 * (r * G + c) + 1] = (float)(hi - (hi - lo) * (r + 0.5) / G);
        }
    CHECK(nf_toy_log_prob("two_moons", grid_pts, G * G, grid) == NF_OK, "%s", nf_last_error());
    CHECK(nf_toy_sample("two_moons", NS, 3, samples) == NF_OK);
    double mx = 0.0;
    for (int k = 0; k < G * G; k++) {
        grid[k] = exp(grid[k]);
        mx = grid[k] > mx ? grid[k] : mx;
    }
    plot_panel panels[2] = {{"two_moons density", grid, G, G, NULL, 0}, {"samples", NULL, 0, 0, samples, NS}};
    const char *path = in_dir("moons.png");
    CHECK(plot_write_png(path, panels, 2, SIZE, lo, hi) == NF_OK, "%s", nf_last_error());
    image im;
    CHECK(read_png(path, &im) == 0);
    if (!im.rgb)
        return;
    layout l = layout_of(2, SIZE, 1);
    int top = l.gap + l.band, x0 = panel_x(&l, SIZE, 0), x1 = panel_x(&l, SIZE, 1);
    double inked = 0.0, blank = 0.0;
    int n_inked = 0, n_blank = 0, floor_ink = 0;
    for (int y = 0; y < SIZE; y++)
        for (int x = 0; x < SIZE; x++) {
            const unsigned char *h = px(&im, x0 + x, top + y), *s = px(&im, x1 + x, top + y);
            double v = grid[(y * G / SIZE) * G + x * G / SIZE] / mx;
            if (is_white(s)) {
                blank += v;
                n_blank++;
            } else {
                inked += v;
                n_inked++;
            }
            /* heat map at its floor (lowest colour) but ink beside it */
            if (h[0] == 68 && h[1] == 1 && h[2] == 84 && !is_white(s))
                floor_ink++;
        }
    CHECK(n_inked > 500 && n_blank > 5000, "%d inked, %d blank", n_inked, n_blank);
    CHECK(inked / n_inked > 10.0 * (blank / n_blank), "density %.3g under ink, %.3g elsewhere", inked / n_inked,
          blank / n_blank);
    CHECK(floor_ink * 100 < n_inked, "%d of %d inked pixels where the density is nil", floor_ink, n_inked);
    free(im.rgb);
    unlink(path);
}

/* nf_plot_model_png draws the samples nf_flow_sample draws with its seed:
 * the same picture as nf_plot_png given them; none with n_samples 0. */
static void test_model_picture(void)
{
    nf_config cfg;
    nf_config_default(&cfg, NF_MODEL_REALNVP, 2);
    cfg.layers = 2;
    cfg.hidden = 8;
    nf_flow *f = NULL;
    CHECK(nf_flow_create(&f, &cfg) == NF_OK, "%s", nf_last_error());
    if (!f)
        return;
    float data[2 * 50], samples[2 * 300];
    CHECK(nf_toy_sample("two_moons", 50, 1, data) == NF_OK && nf_flow_sample(f, 300, 9, samples, NULL) == NF_OK);
    const char *a = in_dir("a.png"), *b = in_dir("b.png");
    CHECK(nf_plot_model_png(f, a, data, 50, 300, 9, -3, 3) == NF_OK, "%s", nf_last_error());
    CHECK(nf_plot_png(f, b, data, 50, samples, 300, -3, 3) == NF_OK, "%s", nf_last_error());
    size_t na = 0, nb = 0;
    unsigned char *pa = th_slurp(a, &na), *pb = th_slurp(b, &nb);
    CHECK(pa && pb && na == nb && memcmp(pa, pb, na) == 0, "the pictures differ (%zu and %zu bytes)", na, nb);
    free(pa);
    free(pb);
    CHECK(nf_plot_model_png(f, a, NULL, 0, 0, 9, 0, 0) == NF_OK, "no data, no samples: %s", nf_last_error());
    nf_flow_free(f);
    nf_config_default(&cfg, NF_MODEL_REALNVP, 3);
    CHECK(nf_flow_create(&f, &cfg) == NF_OK && nf_plot_model_png(f, b, NULL, 0, 10, 1, 0, 0) == NF_ERR_DIMENSION);
    nf_flow_free(f);
    unlink(a);
    unlink(b);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/nf_test_plot.XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(test_three_panels);
    RUN(test_special_grids);
    RUN(test_invalid_arguments);
    RUN(test_io_errors);
    RUN(test_overwrite);
    RUN(test_toy_picture);
    RUN(test_model_picture);
    rmdir(dir);
    TEST_SUMMARY("test_plot");
}
