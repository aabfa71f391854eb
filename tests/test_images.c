/* Image data (issue 31): an N x H x W (x C) .npy or an IDX file of values
 * in [0, 256) is recognised as images: dequantised, given RealNVP's
 * logit preprocessing as bounds, its shape kept by the model (saved with
 * it), and its log-likelihoods told in bits per dimension. Other data, a
 * column list, or a value outside [0, 256) are not images. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "extras/nflow_extras.h"
#include "flow/flow.h"
#include "harness.h"
#include "layers/standardize.h"
#include "nflow.h"

enum { N = 60, H = 3, W = 2, C = 2, D = H * W * C };

/* A .npy of N x H x W x C uint8 (or one float32 value of 256 with big_value). */
static int write_images(const char *path, int big_value)
{
    char dict[128];
    snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (%d, %d, %d, %d), }",
             big_value ? "<f4" : "|u1", N, H, W, C);
    size_t len = strlen(dict), pad = 64 - (10 + len + 1) % 64;
    FILE *fp = fopen(path, "wb");
    if (!fp)
        return 0;
    unsigned char head[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)((len + pad + 1) & 0xff),
                              (unsigned char)((len + pad + 1) >> 8)};
    int ok = fwrite(head, 1, 10, fp) == 10 && fwrite(dict, 1, len, fp) == len;
    for (size_t i = 0; ok && i < pad; i++)
        ok = fputc(' ', fp) != EOF;
    ok = ok && fputc('\n', fp) != EOF;
    for (int i = 0; ok && i < N * D; i++) {
        unsigned v = (unsigned)(i * 37 % 251);
        if (big_value) {
            float f = i == 17 ? 256.0f : (float)v;
            ok = fwrite(&f, sizeof f, 1, fp) == 1;
        } else
            ok = fputc((int)v, fp) != EOF;
    }
    return fclose(fp) == 0 && ok;
}

static void test_images_recognised(void)
{
    char dir[] = "/tmp/nflow_test_images_XXXXXX", path[64], model[64];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/images.npy", dir);
    snprintf(model, sizeof model, "%s/m.nfm", dir);
    CHECK(write_images(path, 0));
    nf_data_options o;
    nf_data_options_default(&o);
    nf_data *d = NULL;
    CHECK(nf_data_read(&d, path, NULL, NULL, &o) == NF_OK, "%s", nf_last_error());
    int shape[3];
    CHECK(d && nf_data_image_shape(d, shape) == 1 && shape[0] == H && shape[1] == W && shape[2] == C);
    /* dequantised without being asked: no training value is whole any more */
    const float *x;
    size_t n = d ? nf_data_rows(d, NF_PART_TRAIN, &x, NULL) : 0, whole = 0;
    for (size_t i = 0; i < n * D; i++)
        whole += x[i] == floorf(x[i]);
    CHECK(n > 0 && whole == 0, "%zu of %zu values whole", whole, n * D);
    /* the model: RealNVP's logit as its bounds, the shape kept and saved, bits per dimension */
    nf_config cfg;
    nf_flow *f = NULL, *g = NULL;
    CHECK(d && nf_data_defaults(d, "maf", &cfg, NULL) == NF_OK && nf_flow_create_for_data(&f, d, &cfg) == NF_OK,
          "%s", nf_last_error());
    double lo[D], hi[D];
    CHECK(f && nf_flow_get_bounds(f, lo, hi) == 1);
    CHECK_CLOSE(lo[5], -256 * 0.05 / 0.9, 1e-9, 1e-12);
    CHECK_CLOSE(hi[5], 256 + 256 * 0.05 / 0.9, 1e-9, 1e-12);
    CHECK(f && nf_flow_image_shape(f, shape) == 1 && shape[0] == H && shape[2] == C);
    if (f) { /* a model of columns standardises each pixel apart (image models pool them: test_image_models) */
        const double *mean, *std;
        standardize_get(f->layers[flow_first(f)], &mean, &std);
        int apart = 0;
        for (int j = C; j < D; j += C)
            apart |= mean[j] != mean[0] || std[j] != std[0];
        CHECK(apart);
    }
    CHECK_CLOSE(nf_flow_bits_per_dim(f, -D * log(2.0) * 3.5), 3.5, 1e-12, 0);
    CHECK(f && nf_flow_save(f, model) == NF_OK && nf_flow_load(&g, model) == NF_OK, "%s", nf_last_error());
    CHECK(g && nf_flow_image_shape(g, shape) == 1 && shape[0] == H && shape[1] == W && shape[2] == C);
    char text[4096];
    CHECK(g && nf_flow_describe(g, text, sizeof text) && strstr(text, "images: 3 x 2 x 2"), "%s", text);
    unlink(model);
    nf_flow_free(f);
    nf_flow_free(g);
    nf_data_free(d);
    d = NULL;
    /* not images: a column list, a value of 256 */
    o.columns = "0-5";
    CHECK(nf_data_read(&d, path, NULL, NULL, &o) == NF_OK && nf_data_image_shape(d, shape) == 0 && shape[0] == 0);
    nf_data_free(d);
    d = NULL;
    o.columns = NULL;
    CHECK(write_images(path, 1));
    CHECK(nf_data_read(&d, path, NULL, NULL, &o) == NF_OK && nf_data_image_shape(d, NULL) == 0, "%s",
          nf_last_error());
    nf_config_default(&cfg, NF_MODEL_MAF, D);
    f = NULL;
    CHECK(d && nf_flow_create_for_data(&f, d, &cfg) == NF_OK && nf_flow_image_shape(f, NULL) == 0 &&
          !nf_flow_get_bounds(f, NULL, NULL) && isnan(nf_flow_bits_per_dim(f, -1)));
    nf_flow_free(f);
    nf_data_free(d);
    CHECK(nf_data_image_shape(NULL, shape) == 0 && nf_flow_image_shape(NULL, shape) == 0);
    unlink(path);
    rmdir(dir);
}

/* n smooth 8 x 8 grey images in [0, 256): a blob whose place and size vary. */
enum { SIDE = 8, PIX = SIDE * SIDE };
static float *blobs(int n)
{
    float *x = malloc(sizeof(float) * (size_t)n * PIX);
    for (int i = 0; x && i < n; i++) {
        double cy = 2 + (i * 7 % 5), cx = 2 + (i * 3 % 5), r = 1.5 + (i % 3);
        for (int y = 0; y < SIDE; y++)
            for (int xx = 0; xx < SIDE; xx++) {
                double d2 = (y - cy) * (y - cy) + (xx - cx) * (xx - cx);
                x[(size_t)i * PIX + y * SIDE + xx] = (float)floor(250 * exp(-d2 / (2 * r * r)) + (i * 13 + y * 5 + xx) % 4);
            }
    }
    return x;
}

/* Images given as arrays (as the Python binding gives them) to a glow and
 * a realnvp-ms: the data's default is glow, training lowers the bits per
 * dimension, a saved model gives the same densities, the same bits at 1
 * and 2 threads, samples inside the pixel range. */
static nf_flow *train_image_model(const nf_data *d, const char *model, int threads)
{
    nf_config cfg;
    nf_train_options opt;
    nf_flow *f = NULL;
    if (nf_data_defaults(d, model, &cfg, &opt))
        return NULL;
    cfg.layers = 2;
    cfg.hidden = 8;
    opt.max_epochs = 3;
    opt.batch = 16;
    nf_set_threads(threads);
    if (nf_flow_create_for_data(&f, d, &cfg) || nf_flow_fit(f, d, &opt, NULL)) {
        nf_flow_free(f);
        f = NULL;
    }
    nf_set_threads(0);
    return f;
}

/* An image model's standardisation is one mean and deviation per channel,
 * pooled over the pixels: the pixels' own (a model of columns keeps those)
 * have means around the pooled one and deviations below its. */
static void pooled_standardisation(const nf_flow *f, const char *kind)
{
    const double *mean, *std;
    standardize_get(f->layers[flow_first(f)], &mean, &std);
    int same = 1;
    for (int j = 1; j < PIX; j++)
        same &= mean[j] == mean[0] && std[j] == std[0];
    CHECK(same && std[0] > 0, "%s: the pixels are standardised apart", kind);
}

static void test_image_models(void)
{
    const int n = 160;
    float *x = blobs(n);
    nf_data_options o;
    nf_data_options_default(&o);
    o.image_shape[0] = o.image_shape[1] = SIDE;
    o.image_shape[2] = 1;
    nf_data *d = NULL;
    CHECK(x && nf_data_from_arrays(&d, x, NULL, n, PIX, 0, NULL, NULL, 0, &o) == NF_OK, "%s", nf_last_error());
    nf_config cfg;
    CHECK(d && nf_data_defaults(d, NULL, &cfg, NULL) == NF_OK && cfg.model == NF_MODEL_GLOW && cfg.image_shape[0] == SIDE);
    const float *val;
    size_t n_val = d ? nf_data_rows(d, NF_PART_VAL, &val, NULL) : 0;
    double *lp = malloc(sizeof(double) * n_val), *lp2 = malloc(sizeof(double) * n_val);
    const char *kinds[] = {"glow", "realnvp-ms"};
    for (int k = 0; k < 2 && d; k++) {
        nf_flow *f = NULL, *g = NULL, *untrained = NULL;
        CHECK(nf_data_defaults(d, kinds[k], &cfg, NULL) == NF_OK && nf_flow_create_for_data(&untrained, d, &cfg) == NF_OK,
              "%s", nf_last_error());
        f = train_image_model(d, kinds[k], 1);
        g = train_image_model(d, kinds[k], 2);
        CHECK(f && g, "%s: %s", kinds[k], nf_last_error());
        if (!f || !g || !untrained)
            continue;
        pooled_standardisation(untrained, kinds[k]);
        double before = 0, after = 0;
        CHECK(nf_flow_log_prob(untrained, val, n_val, lp) == NF_OK && nf_flow_log_prob(f, val, n_val, lp2) == NF_OK);
        for (size_t i = 0; i < n_val; i++) {
            before += lp[i] / (double)n_val;
            after += lp2[i] / (double)n_val;
        }
        CHECK(nf_flow_bits_per_dim(f, after) < nf_flow_bits_per_dim(f, before) - 0.05, "%s: %g -> %g bits/dim",
              kinds[k], nf_flow_bits_per_dim(f, before), nf_flow_bits_per_dim(f, after));
        CHECK(nf_flow_log_prob(g, val, n_val, lp) == NF_OK && memcmp(lp, lp2, sizeof(double) * n_val) == 0,
              "%s: 1 and 2 threads train different models", kinds[k]);
        char path[] = "/tmp/nflow_test_image_model_XXXXXX";
        int fd = mkstemp(path);
        nf_flow *h = NULL;
        CHECK(fd >= 0 && nf_flow_save(f, path) == NF_OK && nf_flow_load(&h, path) == NF_OK, "%s", nf_last_error());
        CHECK(h && nf_flow_log_prob(h, val, n_val, lp) == NF_OK && memcmp(lp, lp2, sizeof(double) * n_val) == 0);
        nf_config back;
        nf_config_default(&back, NF_MODEL_MAF, 1);
        CHECK(h && nf_flow_get_config(h, &back) == NF_OK && back.levels == 2 && back.image_shape[1] == SIDE &&
              back.model == (k ? NF_MODEL_REALNVP_MS : NF_MODEL_GLOW));
        float s[4 * PIX], s2[4 * PIX];
        CHECK(nf_flow_sample_tempered(f, NULL, 4, 9, 1.0, s, NULL) == NF_OK && nf_flow_sample(f, 4, 9, s2, NULL) == NF_OK &&
              memcmp(s, s2, sizeof s) == 0);
        CHECK(nf_flow_sample_tempered(f, NULL, 4, 9, 0.7, s, NULL) == NF_OK && memcmp(s, s2, sizeof s) != 0);
        int inside = 1;
        for (int i = 0; i < 4 * PIX; i++)
            inside &= s[i] > -256 * 0.05 / 0.9 && s[i] < 256 + 256 * 0.05 / 0.9;
        CHECK(inside);
        CHECK(nf_flow_sample_tempered(f, NULL, 4, 9, 0, s, NULL) == NF_ERR_INVALID);
        /* the training range is of the logit's values: data rows are mapped before they are compared */
        CHECK(nf_flow_count_far_from_data(f, val, n_val) == 0, "%zu of %zu validation rows far from the data",
              nf_flow_count_far_from_data(f, val, n_val), n_val);
        if (fd >= 0) {
            close(fd);
            unlink(path);
        }
        nf_flow_free(untrained);
        nf_flow_free(f);
        nf_flow_free(g);
        nf_flow_free(h);
    }
    free(lp);
    free(lp2);
    nf_data_free(d);
    /* refusals: values past 255, a shape that is not the rows', an image model without images, too many levels */
    x[5] = 300;
    CHECK(nf_data_from_arrays(&d, x, NULL, n, PIX, 0, NULL, NULL, 0, &o) == NF_ERR_FORMAT && strstr(nf_last_error(), "[0, 256)"));
    x[5] = 1;
    o.image_shape[0] = 4;
    CHECK(nf_data_from_arrays(&d, x, NULL, n, PIX, 0, NULL, NULL, 0, &o) == NF_ERR_INVALID);
    nf_flow *f = NULL;
    nf_config_default(&cfg, NF_MODEL_GLOW, PIX);
    CHECK(nf_flow_create(&f, &cfg) == NF_ERR_INVALID && strstr(nf_last_error(), "image"), "%s", nf_last_error());
    cfg.image_shape[0] = cfg.image_shape[1] = SIDE;
    cfg.image_shape[2] = 1;
    cfg.model = NF_MODEL_REALNVP_MS;
    cfg.levels = 5; /* 8 -> 4 -> 2 -> 1: no fourth squeeze */
    CHECK(nf_flow_create(&f, &cfg) == NF_ERR_INVALID, "%s", nf_last_error());
    cfg.levels = 2;
    cfg.model = NF_MODEL_GLOW;
    CHECK(nf_flow_create(&f, &cfg) == NF_OK, "%s", nf_last_error());
    float s[PIX];
    CHECK(f && nf_flow_sample_tempered(f, NULL, 1, 1, 0.5, s, NULL) == NF_OK);
    nf_flow_free(f);
    free(x);
}

/* Class labels as the context (nf_data_options.label_files,
 * label_classes): a class-conditional glow hears its class (the true
 * label scores higher than the other), keeps the count of classes when
 * saved; files and arrays give the same rows; bad labels are refused
 * naming the file and row. */
static void test_labelled_images(void)
{
    const int n = 160;
    float *x = blobs(n), *y = malloc(sizeof(float) * n);
    for (int i = 0; x && y && i < n; i++) { /* class 0: faint blobs, class 1: bright ones */
        y[i] = (float)(i % 2);
        for (int j = 0; j < PIX && !y[i]; j++)
            x[(size_t)i * PIX + j] = floorf(x[(size_t)i * PIX + j] / 4);
    }
    nf_data_options o;
    nf_data_options_default(&o);
    o.image_shape[0] = o.image_shape[1] = SIDE;
    o.image_shape[2] = 1;
    o.label_classes = 2;
    nf_data *d = NULL;
    CHECK(x && y && nf_data_from_arrays(&d, x, y, n, PIX, 1, NULL, NULL, 0, &o) == NF_OK, "%s", nf_last_error());
    CHECK(d && nf_data_label_classes(d) == 2 && nf_data_context_dim(d) == 2 && nf_data_image_shape(d, NULL) == 1);
    nf_flow *f = d ? train_image_model(d, "glow", 0) : NULL;
    CHECK(f && nf_flow_label_classes(f) == 2 && nf_flow_context_dim(f) == 2, "%s", nf_last_error());
    const float *val, *val_c;
    size_t n_val = d ? nf_data_rows(d, NF_PART_VAL, &val, &val_c) : 0;
    float *wrong = malloc(sizeof(float) * n_val * 2), *labels = malloc(sizeof(float) * n_val);
    double *lp = malloc(sizeof(double) * n_val), *lp2 = malloc(sizeof(double) * n_val);
    for (size_t i = 0; labels && i < n_val; i++)
        labels[i] = val_c[2 * i + 1] == 1 ? 0.0f : 1.0f; /* the other class */
    CHECK(f && wrong && lp && lp2 && nf_flow_context_of_labels(f, labels, n_val, wrong) == NF_OK);
    double right = 0, other = 0;
    if (f && nf_flow_log_prob_given(f, val, val_c, n_val, lp) == NF_OK &&
        nf_flow_log_prob_given(f, val, wrong, n_val, lp2) == NF_OK)
        for (size_t i = 0; i < n_val; i++) {
            right += lp[i] / (double)n_val;
            other += lp2[i] / (double)n_val;
        }
    CHECK(right > other + 5, "log p(x | its class) %g, log p(x | the other) %g", right, other);
    char path[] = "/tmp/nflow_test_labels_XXXXXX";
    int fd = mkstemp(path);
    nf_flow *g = NULL;
    CHECK(f && fd >= 0 && nf_flow_save(f, path) == NF_OK && nf_flow_load(&g, path) == NF_OK, "%s", nf_last_error());
    CHECK(g && nf_flow_label_classes(g) == 2 && nf_flow_log_prob_given(g, val, val_c, n_val, lp2) == NF_OK &&
          memcmp(lp, lp2, sizeof(double) * n_val) == 0);
    labels[0] = 2;
    CHECK(f && nf_flow_context_of_labels(f, labels, 1, wrong) == NF_ERR_INVALID && strstr(nf_last_error(), "label 2"));
    labels[0] = 0.5f;
    CHECK(f && nf_flow_context_of_labels(f, labels, 1, wrong) == NF_ERR_INVALID);
    nf_flow_free(f);
    nf_flow_free(g);
    nf_data_free(d);
    /* arrays: a label outside the classes, or labels wider than a column */
    y[7] = 2;
    CHECK(nf_data_from_arrays(&d, x, y, n, PIX, 1, NULL, NULL, 0, &o) == NF_ERR_FORMAT &&
          strstr(nf_last_error(), "row 7: label 2 is not a class"), "%s", nf_last_error());
    y[7] = 1;
    CHECK(nf_data_from_arrays(&d, x, x, n, PIX - 1, 2, NULL, NULL, 0, &o) == NF_ERR_INVALID);
    /* files (columns this time) give the rows the arrays give; the classes counted from the labels */
    nf_matrix xm = {.rows = (size_t)n, .cols = PIX, .values = x}, ym = {.rows = (size_t)n, .cols = 1, .values = y},
              short_y = {.rows = (size_t)n - 1, .cols = 1, .values = y};
    char xpath[64], ypath[64], bad[64];
    snprintf(xpath, sizeof xpath, "%s.x.npy", path);
    snprintf(ypath, sizeof ypath, "%s.y.npy", path);
    snprintf(bad, sizeof bad, "%s.bad.npy", path);
    CHECK(nf_matrix_write(xpath, &xm) == NF_OK && nf_matrix_write(ypath, &ym) == NF_OK &&
          nf_matrix_write(bad, &short_y) == NF_OK);
    nf_data *a = NULL, *b = NULL;
    memset(o.image_shape, 0, sizeof o.image_shape);
    CHECK(nf_data_from_arrays(&a, x, y, n, PIX, 1, NULL, NULL, 0, &o) == NF_OK, "%s", nf_last_error());
    o.label_classes = 0;
    o.label_files[0] = ypath;
    CHECK(nf_data_read(&b, xpath, NULL, NULL, &o) == NF_OK, "%s", nf_last_error());
    const float *ax, *ac, *bx, *bc;
    size_t na = a ? nf_data_rows(a, NF_PART_TRAIN, &ax, &ac) : 0, nb = b ? nf_data_rows(b, NF_PART_TRAIN, &bx, &bc) : 1;
    CHECK(na == nb && nf_data_label_classes(b) == 2 && memcmp(ax, bx, sizeof(float) * na * PIX) == 0 &&
          memcmp(ac, bc, sizeof(float) * na * 2) == 0);
    nf_data_free(a);
    nf_data_free(b);
    o.label_files[0] = bad; /* one label short */
    CHECK(nf_data_read(&b, xpath, NULL, NULL, &o) == NF_ERR_FORMAT && strstr(nf_last_error(), "159 labels for the 160 rows"),
          "%s", nf_last_error());
    o.label_files[0] = ypath;
    o.context_columns = "0";
    CHECK(nf_data_read(&b, xpath, NULL, NULL, &o) == NF_ERR_INVALID);
    o.context_columns = NULL;
    CHECK(nf_data_read(&b, xpath, xpath, NULL, &o) == NF_ERR_INVALID && strstr(nf_last_error(), "validation rows need"),
          "%s", nf_last_error());
    y[3] = 0.5f;
    CHECK(nf_matrix_write(ypath, &ym) == NF_OK && nf_data_read(&b, xpath, NULL, NULL, &o) == NF_ERR_FORMAT &&
          strstr(nf_last_error(), "row 3: label 0.5 is not a whole number"), "%s", nf_last_error());
    unlink(xpath);
    unlink(ypath);
    unlink(bad);
    if (fd >= 0) {
        close(fd);
        unlink(path);
    }
    free(wrong);
    free(labels);
    free(lp);
    free(lp2);
    free(x);
    free(y);
}

/* The sample grid: a PNG of the right size; only grey or colour images. */
static void test_image_grid(void)
{
    char dir[] = "/tmp/nflow_test_grid_XXXXXX", path[64];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/grid.png", dir);
    float *x = blobs(6);
    CHECK(x && nf_plot_images_png(path, x, 6, (const int[]){SIDE, SIDE, 1}, 3) == NF_OK, "%s",
          nf_last_error());
    unsigned char head[24] = {0};
    FILE *fp = fopen(path, "rb");
    CHECK(fp && fread(head, 1, 24, fp) == 24 && memcmp(head, "\x89PNG", 4) == 0);
    if (fp)
        fclose(fp);
    /* 3 x 2 images of 8 pixels shown 8 times larger, 2 pixels apart */
    unsigned w = (unsigned)head[16] << 24 | head[17] << 16 | head[18] << 8 | head[19];
    unsigned h = (unsigned)head[20] << 24 | head[21] << 16 | head[22] << 8 | head[23];
    CHECK(w == 3 * (64 + 2) + 2 && h == 2 * (64 + 2) + 2, "%u x %u", w, h);
    CHECK(nf_plot_images_png(path, x, 6, (const int[]){SIDE, SIDE / 2, 2}, 0) == NF_ERR_INVALID);
    unlink(path);
    rmdir(dir);
    free(x);
}

/* An image model's floor: the density is (1 - w) p_flow + w N(0, I) of the
 * standardised values (after the logit, its Jacobian counted), which
 * nf_flow_gaussian_log_prob gives, checked here against the formula; it
 * bounds how low a row can score; a model file keeps it; a model built
 * with weight 0 has none. */
static void test_image_floor(void)
{
    const int n = 160;
    float *x = blobs(n);
    CHECK(x != NULL);
    nf_data_options o;
    nf_data_options_default(&o);
    o.image_shape[0] = o.image_shape[1] = SIDE, o.image_shape[2] = 1;
    o.val_fraction = o.test_fraction = 0;
    nf_data *d = NULL;
    CHECK(nf_data_from_arrays(&d, x, NULL, (size_t)n, PIX, 0, NULL, NULL, 0, &o) == NF_OK, "%s", nf_last_error());
    nf_config cfg, got;
    nf_train_options opt;
    CHECK(nf_data_defaults(d, "glow", &cfg, &opt) == NF_OK, "%s", nf_last_error());
    CHECK(cfg.tail_weight == 1e-6, "the image models' default floor weight %g", cfg.tail_weight);
    cfg.layers = 2;
    cfg.hidden = 8;
    nf_flow *plain = NULL, *mixed = NULL, *loaded = NULL;
    cfg.tail_weight = 0;
    CHECK(nf_flow_create_for_data(&plain, d, &cfg) == NF_OK, "%s", nf_last_error());
    const double w = 0.25;
    cfg.tail_weight = w;
    CHECK(nf_flow_create_for_data(&mixed, d, &cfg) == NF_OK, "%s", nf_last_error());
    opt.max_epochs = 2;
    opt.batch = 16;
    CHECK(nf_flow_fit(plain, d, &opt, NULL) == NF_OK, "%s", nf_last_error());
    CHECK(plain->n_params == mixed->n_params && plain->n_state == mixed->n_state, "the two models differ");
    memcpy(mixed->params, plain->params, sizeof(real) * plain->n_params); /* the trained flow, and actnorm's state */
    memcpy(mixed->state, plain->state, sizeof(real) * plain->n_state);
    const int rows = 20;
    float probe[20 * PIX];
    memcpy(probe, x, sizeof probe);
    for (int j = 0; j < PIX; j++) /* a row the flow has never seen: the pixel range's far corners */
        probe[(size_t)(rows - 1) * PIX + j] = j % 2 ? 255.9f : 0.01f;
    double lp0[20], lpw[20], lg[20], lg_plain[20];
    CHECK(nf_flow_log_prob(plain, probe, rows, lp0) == NF_OK && nf_flow_log_prob(mixed, probe, rows, lpw) == NF_OK &&
          nf_flow_gaussian_log_prob(mixed, probe, rows, lg) == NF_OK, "%s", nf_last_error());
    CHECK(nf_flow_gaussian_log_prob(plain, probe, rows, lg_plain) == NF_ERR_UNSUPPORTED, "weight 0: no floor");
    double lo[PIX], hi[PIX];
    CHECK(nf_flow_get_bounds(mixed, lo, hi) == 1, "an image model's logit");
    const double *mean, *std;
    standardize_get(mixed->layers[flow_first(mixed)], &mean, &std);
    for (int r = 0; r < rows; r++) {
        double want = 0; /* N(0, I) of the standardised logits, with both maps' Jacobians */
        for (int j = 0; j < PIX; j++) {
            double v = probe[(size_t)r * PIX + j], a = v - lo[j], b = hi[j] - v;
            double y = (log(a) - log(b) - mean[j]) / std[j];
            want += -0.5 * y * y - 0.91893853320467274178 + log(hi[j] - lo[j]) - log(a) - log(b) - log(std[j]);
        }
        CHECK(fabs(lg[r] - want) <= 1e-4 * (1 + fabs(want)), "row %d: floor %.6f, the formula %.6f", r, lg[r], want);
        double m = fmax(log1p(-w) + lp0[r], log(w) + lg[r]);
        double mix = m + log(exp(log1p(-w) + lp0[r] - m) + exp(log(w) + lg[r] - m));
        CHECK(fabs(lpw[r] - mix) <= 1e-6 * (1 + fabs(mix)), "row %d: %.6f, the mixture %.6f", r, lpw[r], mix);
        CHECK(lpw[r] >= log(w) + lg[r] - 1e-9 * fabs(lg[r]), "row %d: below the floor", r);
    }
    CHECK(lp0[rows - 1] < log(w) + lg[rows - 1], "the far row: the flow (%.1f) above the floor (%.1f)?",
          lp0[rows - 1], log(w) + lg[rows - 1]);
    /* a model file keeps the floor; nf_flow_get_config reports its weight */
    char dir[] = "/tmp/nflow_test_floor_XXXXXX", path[64];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/m.nfm", dir);
    double again[20];
    CHECK(nf_flow_save(mixed, path) == NF_OK && nf_flow_load(&loaded, path) == NF_OK, "%s", nf_last_error());
    CHECK(nf_flow_log_prob(loaded, probe, rows, again) == NF_OK && !memcmp(again, lpw, sizeof again),
          "the floor not kept by the file");
    nf_config_default(&got, NF_MODEL_MAF, 1);
    CHECK(nf_flow_get_config(loaded, &got) == NF_OK && got.tail_weight == w, "config tail weight %g",
          got.tail_weight);
    nf_flow_free(loaded);
    loaded = NULL;
    CHECK(nf_flow_save(plain, path) == NF_OK && nf_flow_load(&loaded, path) == NF_OK, "%s", nf_last_error());
    CHECK(nf_flow_get_config(loaded, &got) == NF_OK && got.tail_weight == 0, "weight 0 read back as %g",
          got.tail_weight);
    char text[4096];
    nf_flow_describe(mixed, text, sizeof text);
    CHECK(strstr(text, "N(0, I) of the standardised values") != NULL, "describe: %s", text);
    unlink(path);
    rmdir(dir);
    nf_flow_free(loaded);
    nf_flow_free(plain);
    nf_flow_free(mixed);
    nf_data_free(d);
    free(x);
}

/* A glow whose last level works on a 1 x 1 image (4 x 4 images, two
 * levels: 1 x 1 x 8 after the second squeeze): its actnorm and 1x1
 * convolution hold a block of 8 of the row's 16 values, which the file
 * must say (it once left the keys out, and the reader took a block of 16:
 * the model could not be read back). */
static void test_one_pixel_level(void)
{
    enum { S = 4, P = S * S, ROWS = 64 };
    float x[ROWS * P];
    for (int i = 0; i < ROWS * P; i++)
        x[i] = (float)(i * 37 % 251);
    nf_data_options o;
    nf_data_options_default(&o);
    o.image_shape[0] = o.image_shape[1] = S, o.image_shape[2] = 1;
    nf_data *d = NULL;
    CHECK(nf_data_from_arrays(&d, x, NULL, ROWS, P, 0, NULL, NULL, 0, &o) == NF_OK, "%s", nf_last_error());
    nf_config cfg;
    nf_train_options opt;
    CHECK(nf_data_defaults(d, "glow", &cfg, &opt) == NF_OK, "%s", nf_last_error());
    cfg.layers = 1;
    cfg.hidden = 2;
    nf_flow *f = NULL, *g = NULL;
    CHECK(cfg.levels == 2 && nf_flow_create_for_data(&f, d, &cfg) == NF_OK, "%s", nf_last_error());
    char dir[] = "/tmp/nflow_test_pixel_XXXXXX", path[64];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/m.nfm", dir);
    double a[4], b[4];
    CHECK(nf_flow_save(f, path) == NF_OK, "%s", nf_last_error());
    CHECK(nf_flow_load(&g, path) == NF_OK, "%s", nf_last_error());
    CHECK(nf_flow_log_prob(f, x, 4, a) == NF_OK && nf_flow_log_prob(g, x, 4, b) == NF_OK && !memcmp(a, b, sizeof a),
          "not the same densities read back");
    unlink(path);
    rmdir(dir);
    nf_flow_free(f);
    nf_flow_free(g);
    nf_data_free(d);
}

int main(void)
{
    RUN(test_images_recognised);
    RUN(test_image_models);
    RUN(test_labelled_images);
    RUN(test_image_grid);
    RUN(test_image_floor);
    RUN(test_one_pixel_level);
    TEST_SUMMARY("test_images");
}
