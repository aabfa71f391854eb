/* The training recipe in the library (nf_data_*, nf_flow_create_for_data,
 * nf_flow_fit, nf_flow_mean_log_prob): rows keep their context through the
 * split, whole-numbered columns are found and dequantised, bounds and
 * widths are checked with messages naming the file's columns, and a fit
 * trains the bits of the calls it stands for. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "nflow.h"

static int said(const char *part) { return strstr(nf_last_error(), part) != NULL; }

enum { ROWS = 200, DIM = 3 };

/* x[r] = (r, a whole number r % 5, a smooth value), c[r] = r + 0.5 */
static void fill(float *x, float *c, size_t rows)
{
    for (size_t r = 0; r < rows; r++) {
        x[r * DIM] = (float)r;
        x[r * DIM + 1] = (float)(r % 5);
        x[r * DIM + 2] = (float)sin(0.37 * (double)r) + 0.01f * (float)r;
        c[r] = (float)r + 0.5f;
    }
}

/* fill()'s rows as prepared data with options o (context when nc is 1). */
static nf_data *prepared(float *x, float *c, int nc, const nf_data_options *o)
{
    nf_data *d = NULL;
    fill(x, c, ROWS);
    CHECK(nf_data_from_arrays(&d, x, nc ? c : NULL, ROWS, DIM, nc, NULL, NULL, 0, o) == NF_OK, "%s", nf_last_error());
    return d;
}

static void test_split_keeps_rows_whole(void)
{
    float x[ROWS * DIM], c[ROWS];
    fill(x, c, ROWS);
    nf_data_options o;
    nf_data_options_default(&o);
    nf_data *d = NULL;
    CHECK(nf_data_from_arrays(&d, x, c, ROWS, DIM, 1, NULL, NULL, 0, &o) == NF_OK, "%s", nf_last_error());
    if (!d)
        return;
    CHECK(nf_data_dim(d) == DIM && nf_data_context_dim(d) == 1, "widths %d, %d", nf_data_dim(d), nf_data_context_dim(d));
    size_t total = 0;
    for (int k = 0; k < 3; k++) {
        const float *px, *pc;
        size_t n = nf_data_rows(d, (nf_part)k, &px, &pc);
        CHECK(n == (k ? ROWS / 10 : ROWS - ROWS / 5), "part %d: %zu rows", k, n);
        total += n;
        int whole = 1;
        for (size_t r = 0; r < n; r++)
            whole &= pc[r] == px[r * DIM] + 0.5f;
        CHECK(whole, "part %d: a row's context was parted from its x", k);
    }
    CHECK(total == ROWS, "%zu rows in the parts", total);
    CHECK(nf_data_rows(d, (nf_part)3, NULL, NULL) == 0, "a part that does not exist has rows");
    char list[64];
    CHECK(nf_data_integer_columns(d, list, sizeof list) == 2 && !strcmp(list, "0, 1"), "integer columns '%s'", list);
    nf_data_free(d);
}

static void test_no_split_keeps_order_and_dequantises(void)
{
    float x[ROWS * DIM], c[ROWS];
    fill(x, c, ROWS);
    nf_data_options o;
    nf_data_options_default(&o);
    o.val_fraction = o.test_fraction = 0;
    o.dequantize = 1;
    nf_data *d = NULL;
    CHECK(nf_data_from_arrays(&d, x, c, ROWS, DIM, 1, NULL, NULL, 0, &o) == NF_OK, "%s", nf_last_error());
    if (!d)
        return;
    const float *px, *pc;
    size_t n = nf_data_rows(d, NF_PART_TRAIN, &px, &pc);
    int ordered = n == ROWS, in_cell = 1, noisy = 0;
    for (size_t r = 0; r < n; r++) {
        ordered &= pc[r] == (float)r + 0.5f; /* the context is not dequantised */
        float v = px[r * DIM + 1], base = (float)(r % 5);
        in_cell &= v >= base && v < base + 1 && px[r * DIM + 2] == x[r * DIM + 2];
        noisy += v != base;
    }
    CHECK(ordered, "the rows moved, or the context got noise");
    CHECK(in_cell && noisy > ROWS / 2, "dequantised values outside their unit cells, or no noise (%d)", noisy);
    nf_data_free(d);
}

static void test_bounds_and_too_few_rows(void)
{
    float x[ROWS * DIM], c[ROWS];
    fill(x, c, ROWS);
    nf_data_options o;
    nf_data_options_default(&o);
    double lo[DIM] = {-1, NAN, NAN}, hi[DIM] = {150, NAN, NAN};
    o.lo = lo;
    o.hi = hi;
    nf_data *d = NULL;
    CHECK(nf_data_from_arrays(&d, x, NULL, ROWS, DIM, 0, NULL, NULL, 0, &o) == NF_ERR_FORMAT && !d &&
              said("X: row 150") && said("column 0"), "a row outside its bounds: %s", nf_last_error());
    hi[0] = 1000;
    CHECK(nf_data_from_arrays(&d, x, NULL, 10, DIM, 0, NULL, NULL, 0, &o) == NF_ERR_FORMAT &&
              said("10 rows are too few"), "10 rows split: %s", nf_last_error());
    o.bounds = "0=0:";
    CHECK(nf_data_from_arrays(&d, x, NULL, ROWS, DIM, 0, NULL, NULL, 0, &o) == NF_ERR_INVALID && said("not both"),
          "text and arrays: %s", nf_last_error());
}

/* A file: its column list, its context columns and bounds as text, named
 * in messages as the file counts its columns. */
static void test_file_columns_named(void)
{
    char path[] = "/tmp/nflow_prepare_XXXXXX"; /* read as CSV */
    int fd = mkstemp(path);
    FILE *fp = fd >= 0 ? fdopen(fd, "w") : NULL;
    CHECK(fp != NULL, "temporary file");
    if (!fp)
        return;
    for (int r = 0; r < 100; r++) /* columns: id, label (context), value, a constant */
        fprintf(fp, "%d,%d,%g,7\n", r, r % 3, 1 + 0.5 * sin(r));
    fclose(fp);
    nf_data_options o;
    nf_data_options_default(&o);
    o.columns = "1-3";
    o.context_columns = "0";
    o.bounds = "1=0:";
    nf_data *d = NULL;
    CHECK(nf_data_read(&d, path, NULL, NULL, &o) == NF_OK, "%s", nf_last_error());
    if (d) {
        nf_config cfg;
        nf_train_options opt;
        CHECK(nf_data_defaults(d, "maf", &cfg, &opt) == NF_OK && cfg.dim == 2 && cfg.context_dim == 1, "defaults");
        nf_flow *f = NULL;
        CHECK(nf_flow_create_for_data(&f, d, &cfg) == NF_ERR_FORMAT && !f && said("column 3 is constant"),
              "a constant column: %s", nf_last_error());
        nf_data_free(d);
    }
    o.bounds = "0=0:";
    CHECK(nf_data_read(&d, path, NULL, NULL, &o) == NF_ERR_INVALID && said("context column"), "bounds on the context: %s",
          nf_last_error());
    o.bounds = "1=2:1";
    CHECK(nf_data_read(&d, path, NULL, NULL, &o) == NF_ERR_INVALID && said("not below"), "2:1: %s", nf_last_error());
    o.bounds = "1=1.2:";
    CHECK(nf_data_read(&d, path, NULL, NULL, &o) == NF_ERR_FORMAT && said("column 2:"), "outside: %s", nf_last_error());
    o.bounds = NULL;
    o.context_columns = "0-2";
    CHECK(nf_data_read(&d, path, NULL, NULL, &o) == NF_ERR_INVALID && said("at least one must remain"), "%s",
          nf_last_error());
    o.context_columns = NULL;
    o.dim = 2;
    CHECK(nf_data_read(&d, path, NULL, NULL, &o) == NF_ERR_DIMENSION && said("the model expects 2"), "%s",
          nf_last_error());
    o.dim = 0;
    CHECK(nf_data_read(&d, path, path, "/nonexistent/t.csv", &o) == NF_ERR_IO && !d, "a missing test file: %s",
          nf_last_error());
    unlink(path);
}

static void test_defaults(void)
{
    float x[ROWS * DIM], c[ROWS];
    nf_data_options o;
    nf_data_options_default(&o);
    o.seed = 9;
    nf_data *d = prepared(x, c, 1, &o);
    if (!d)
        return;
    nf_config cfg;
    nf_train_options opt;
    CHECK(nf_data_defaults(d, NULL, &cfg, &opt) == NF_OK, "%s", nf_last_error());
    CHECK(cfg.model == nf_default_model(ROWS - ROWS / 5, DIM) && cfg.context_dim == 1 && cfg.seed == 9 &&
              opt.seed == 9 && opt.batch == 32, "model %d, context %d, seeds %llu %llu, batch %d", (int)cfg.model,
          cfg.context_dim, (unsigned long long)cfg.seed, (unsigned long long)opt.seed, opt.batch);
    CHECK(nf_data_defaults(d, "gaussian", &cfg, &opt) == NF_ERR_INVALID && said("context"), "a conditional gaussian");
    CHECK(nf_data_defaults(d, "mafia", &cfg, NULL) == NF_ERR_INVALID, "an unknown model");
    nf_data_free(d);
    CHECK(nf_data_from_arrays(&d, x, NULL, ROWS, DIM, 0, NULL, NULL, 0, &o) == NF_OK, "%s", nf_last_error());
    CHECK(d && nf_data_defaults(d, "gaussian", NULL, &opt) == NF_OK && opt.max_epochs == 0, "a gaussian trains epochs");
    nf_data_free(d);
}

/* nf_flow_create_for_data + nf_flow_fit train what the calls they stand
 * for train; nf_flow_mean_log_prob is the mean of the log-densities. */
static void test_fit_is_the_recipe(void)
{
    float x[ROWS * DIM], c[ROWS];
    nf_data_options o;
    nf_data_options_default(&o);
    o.dequantize = 1;
    nf_data *d = prepared(x, c, 1, &o);
    nf_flow *f = NULL, *g = NULL;
    nf_config cfg;
    nf_train_options opt;
    nf_train_result r1, r2;
    if (!d || nf_data_defaults(d, "maf", &cfg, &opt))
        return;
    cfg.layers = 2;
    cfg.hidden = 8;
    opt.max_epochs = 2;
    CHECK(nf_flow_create_for_data(&f, d, &cfg) == NF_OK && nf_flow_fit(f, d, &opt, &r1) == NF_OK, "%s",
          nf_last_error());
    const float *tx, *tc, *vx, *vc, *ex, *ec;
    size_t n = nf_data_rows(d, NF_PART_TRAIN, &tx, &tc), nv = nf_data_rows(d, NF_PART_VAL, &vx, &vc);
    size_t nt = nf_data_rows(d, NF_PART_TEST, &ex, &ec);
    CHECK(nf_flow_create(&g, &cfg) == NF_OK && nf_flow_fit_standardization_given(g, tx, tc, n) == NF_OK &&
              nf_flow_train_given(g, tx, tc, n, vx, vc, nv, &opt, &r2) == NF_OK, "%s", nf_last_error());
    double a[ROWS], b[ROWS];
    if (f && g && nf_flow_log_prob_given(f, ex, ec, nt, a) == NF_OK && nf_flow_log_prob_given(g, ex, ec, nt, b) == NF_OK)
        CHECK(!memcmp(a, b, sizeof(double) * nt), "nf_flow_fit trained other bits than its calls");
    double mean = 0, sq = 0, m, s;
    for (size_t i = 0; i < nt; i++)
        mean += a[i] / (double)nt;
    for (size_t i = 0; i < nt; i++)
        sq += (a[i] - mean) * (a[i] - mean);
    CHECK(f && nf_flow_mean_log_prob(f, d, NF_PART_TEST, 0, NULL, &m, &s) == NF_OK, "%s", nf_last_error());
    CHECK_CLOSE(m, mean, 1e-9, 1e-12);
    CHECK_CLOSE(s, 2 * sqrt(sq / (double)(nt - 1) / (double)nt), 1e-9, 1e-9);
    CHECK(f && nf_flow_mean_log_prob(f, d, (nf_part)5, 0, NULL, &m, &s) == NF_ERR_INVALID, "a part that does not exist");
    /* at most 7 rows: rows i * n / 7, evenly spaced */
    double sampled = 0;
    for (size_t i = 0; i < 7; i++)
        sampled += a[i * nt / 7] / 7;
    CHECK(f && nf_flow_mean_log_prob(f, d, NF_PART_TEST, 7, NULL, &m, &s) == NF_OK, "%s", nf_last_error());
    CHECK_CLOSE(m, sampled, 1e-9, 1e-12);
    nf_flow_free(f);
    nf_flow_free(g);
    nf_data_free(d);
}

/* nf_columns_merge puts the context back where a data file had it. */
static void test_merge_columns(void)
{
    const float x[4] = {1, 2, 3, 4}, c[2] = {10, 20};
    float out[6];
    CHECK(nf_columns_merge(x, 2, c, 1, 2, "1", out) == NF_OK && out[0] == 1 && out[1] == 10 && out[2] == 2 &&
              out[3] == 3 && out[4] == 20 && out[5] == 4, "context column 1: %g %g %g", out[0], out[1], out[2]);
    CHECK(nf_columns_merge(x, 2, c, 1, 2, NULL, out) == NF_OK && out[2] == 10 && out[5] == 20, "x, then the context");
    CHECK(nf_columns_merge(x, 2, c, 1, 2, "0-1", out) == NF_ERR_INVALID, "a list naming 2 columns for 1 context value");
}

/* nf_flow_evaluate: the mean, its standard error and the median of the
 * log-densities, the Gaussian fit's gap, the rows outside the bounds. */
static void test_evaluate_report(void)
{
    float x[ROWS * DIM], c[ROWS];
    nf_data_options o;
    nf_data_options_default(&o);
    double lo[DIM] = {-1, NAN, NAN}, hi[DIM] = {1000, NAN, NAN};
    o.lo = lo;
    o.hi = hi;
    nf_data *d = prepared(x, c, 0, &o);
    nf_flow *f = NULL;
    nf_config cfg;
    nf_train_options opt;
    nf_train_result res;
    if (!d || nf_data_defaults(d, "maf", &cfg, &opt) ||
        (opt.max_epochs = 1, 0) || nf_flow_create_for_data(&f, d, &cfg) || nf_flow_fit(f, d, &opt, &res)) {
        CHECK(0, "training: %s", nf_last_error());
        nf_data_free(d);
        return;
    }
    x[3 * DIM] = -5; /* row 3 below its bound */
    double lp[ROWS], g[ROWS];
    nf_eval_report r;
    CHECK(nf_flow_evaluate(f, x, NULL, ROWS, lp, &r) == NF_OK, "%s", nf_last_error());
    CHECK(r.rows == ROWS && r.outside == 1 && r.first_outside_row == 3 && r.first_outside_column == 0 &&
              r.first_outside_value == -5 && r.first_outside_lo == -1 && r.mean == -INFINITY && r.no_density == 0,
          "outside: %zu, row %zu, column %d", r.outside, r.first_outside_row, r.first_outside_column);
    double sum = 0, gap = 0;
    size_t below = 0;
    nf_flow_gaussian_log_prob(f, x, ROWS, g);
    for (int i = 0; i < ROWS; i++)
        if (i != 3) {
            sum += lp[i];
            gap += lp[i] - g[i];
        }
    for (int i = 0; i < ROWS; i++)
        below += lp[i] < g[i] - 1e-9 * (1 + fabs(g[i]));
    CHECK_CLOSE(r.mean_inside, sum / (ROWS - 1), 1e-9, 1e-12);
    CHECK(r.below_gaussian == (long)below && !isfinite(r.gap), "below %ld, gap %g",
          r.below_gaussian, r.gap);
    size_t smaller = 0;
    for (int i = 0; i < ROWS; i++)
        smaller += lp[i] < r.median;
    CHECK(smaller == ROWS / 2, "median %g has %zu rows below it", r.median, smaller);
    CHECK(nf_flow_evaluate(f, x, NULL, 1, NULL, &r) == NF_OK && isnan(r.two_stderr) && isfinite(r.mean),
          "one row: a mean, no standard error");
    nf_flow_free(f);
    nf_data_free(d);
}

/* The data options of a trained model's layout (nf_data_options_for_flow):
 * its widths and context columns filled in, so that a file reads in its
 * layout; a refusal saying what is missing for each way it cannot. */
/* A MAF of 2 columns given one of three class labels, trained on nothing
 * (NULL on failure, after a failed CHECK). */
static nf_flow *labelled_model(void)
{
    float x[2 * 40], label[40];
    for (int r = 0; r < 40; r++) {
        x[2 * r] = (float)sin(r);
        x[2 * r + 1] = (float)cos(1.3 * r);
        label[r] = (float)(r % 3);
    }
    nf_data_options o;
    nf_data_options_default(&o);
    o.label_classes = -1; /* counted: the largest label + 1 */
    nf_data *d = NULL;
    nf_flow *f = NULL;
    nf_config cfg;
    label[7] = 0.5f;
    CHECK(nf_data_from_arrays(&d, x, label, 40, 2, 1, NULL, NULL, 0, &o) != NF_OK && !d &&
          strstr(nf_last_error(), "labels"), "a label that is not a whole number: %s", nf_last_error());
    label[7] = (float)(7 % 3);
    CHECK(nf_data_from_arrays(&d, x, label, 40, 2, 1, NULL, NULL, 0, &o) == NF_OK, "%s", nf_last_error());
    CHECK(nf_data_label_classes(d) == 3, "classes counted: %d", nf_data_label_classes(d));
    if (d) {
        CHECK(nf_data_defaults(d, "maf", &cfg, NULL) == NF_OK);
        CHECK(nf_flow_create_for_data(&f, d, &cfg) == NF_OK, "%s", nf_last_error());
    }
    nf_data_free(d);
    return f;
}

static void test_options_for_a_model(void)
{
    char path[] = "/tmp/nflow_layout_XXXXXX";
    int fd = mkstemp(path);
    FILE *fp = fd >= 0 ? fdopen(fd, "w") : NULL;
    CHECK(fp != NULL, "temporary file");
    if (!fp)
        return;
    for (int r = 0; r < 100; r++) /* x, x, the context */
        fprintf(fp, "%g,%g,%g\n", sin(0.3 * r), cos(0.7 * r) + 0.01 * r, 0.1 * (r % 7));
    fclose(fp);
    nf_data_options o;
    nf_data_options_default(&o);
    o.context_columns = "2";
    nf_data *d = NULL;
    nf_flow *cond = NULL, *plain = NULL, *unknown = NULL, *labelled = NULL;
    nf_config cfg;
    CHECK(nf_data_read(&d, path, NULL, NULL, &o) == NF_OK, "%s", nf_last_error());
    if (d) {
        CHECK(nf_data_defaults(d, "maf", &cfg, NULL) == NF_OK);
        CHECK(nf_flow_create_for_data(&cond, d, &cfg) == NF_OK, "%s", nf_last_error());
        nf_data_free(d);
    }
    nf_data_options_default(&o);
    CHECK(nf_data_options_for_flow(cond, &o) == NF_OK, "%s", nf_last_error());
    CHECK(o.dim == 2 && o.context_dim == 1 && o.label_classes == 0 && o.context_columns &&
          !strcmp(o.context_columns, "2"), "dim %d, context %d, columns %s", o.dim, o.context_dim,
          o.context_columns ? o.context_columns : "none");
    o.val_fraction = o.test_fraction = 0;
    d = NULL;
    CHECK(nf_data_read(&d, path, NULL, NULL, &o) == NF_OK && d && nf_data_dim(d) == 2 && nf_data_context_dim(d) == 1,
          "read in the model's layout: %s", nf_last_error());
    nf_data_free(d);
    nf_data_options_default(&o);
    o.label_files[0] = path;
    CHECK(nf_data_options_for_flow(cond, &o) == NF_ERR_INVALID && said("not trained on class labels"), "%s",
          nf_last_error());

    nf_config_default(&cfg, NF_MODEL_MAF, 2); /* made in code: no context, then a context without columns */
    CHECK(nf_flow_create(&plain, &cfg) == NF_OK);
    nf_data_options_default(&o);
    o.context_columns = "2";
    CHECK(nf_data_options_for_flow(plain, &o) == NF_ERR_INVALID && said("not conditional"), "%s", nf_last_error());
    nf_data_options_default(&o);
    CHECK(nf_data_options_for_flow(plain, &o) == NF_OK && o.dim == 2 && o.context_dim == 0 && !o.context_columns);
    const double blo[2] = {0, NAN}, bhi[2] = {1, NAN}; /* training further keeps the model's bounds */
    o.lo = blo;
    CHECK(nf_data_options_to_train_further(plain, &o) == NF_OK && !o.lo && !o.hi, "no bounds: none");
    CHECK(nf_flow_set_bounds(plain, blo, bhi) == NF_OK, "%s", nf_last_error());
    CHECK(nf_data_options_for_flow(plain, &o) == NF_OK && !o.lo, "to evaluate: no bounds");
    CHECK(nf_data_options_to_train_further(plain, &o) == NF_OK && o.lo && o.hi && o.lo[0] == 0 && o.hi[0] == 1 &&
          !isfinite(o.lo[1]) && !isfinite(o.hi[1]), "the model's bounds");
    cfg.context_dim = 2;
    CHECK(nf_flow_create(&unknown, &cfg) == NF_OK);
    CHECK(nf_data_options_for_flow(unknown, &o) == NF_ERR_INVALID && said("does not say which columns") &&
          said("(2-3 for x"), "%s", nf_last_error());
    o.context_columns = "0,2";
    CHECK(nf_data_options_for_flow(unknown, &o) == NF_OK && o.context_dim == 2 && !strcmp(o.context_columns, "0,2"));

    labelled = labelled_model(); /* a model of three classes */
    nf_data_options_default(&o);
    CHECK(nf_data_options_for_flow(labelled, &o) == NF_ERR_INVALID && said("class label (3 classes)"), "%s",
          nf_last_error());
    o.label_files[0] = path;
    CHECK(nf_data_options_for_flow(labelled, &o) == NF_OK && o.label_classes == 3 && o.context_dim == 3 &&
          !o.context_columns, "classes %d, context %d", o.label_classes, o.context_dim);
    CHECK(nf_data_options_for_flow(NULL, &o) == NF_ERR_INVALID);
    nf_flow_free(cond);
    nf_flow_free(plain);
    nf_flow_free(unknown);
    nf_flow_free(labelled);
    unlink(path);
}

/* Rows as the model's files hold them: nf_flow_sample_rows draws n per
 * context row (the bits of nf_flow_sample_tempered given the rows
 * repeated) and puts the context back in its column; nf_data_code keeps
 * the context column of the data it codes; a model of labels takes a list
 * of classes and writes x, then the class. */
static void test_file_rows(void)
{
    char path[] = "/tmp/nflow_rows_XXXXXX";
    int fd = mkstemp(path);
    FILE *fp = fd >= 0 ? fdopen(fd, "w") : NULL;
    CHECK(fp != NULL, "temporary file");
    if (!fp)
        return;
    for (int r = 0; r < 60; r++) /* x, the context, x */
        fprintf(fp, "%g,%g,%g\n", sin(0.3 * r), 0.1 * (r % 7), cos(0.7 * r) + 0.01 * r);
    fclose(fp);
    nf_data_options o;
    nf_data_options_default(&o);
    o.context_columns = "1";
    o.val_fraction = o.test_fraction = 0;
    nf_data *d = NULL;
    nf_flow *f = NULL, *labelled = NULL;
    nf_config cfg;
    CHECK(nf_data_read(&d, path, NULL, NULL, &o) == NF_OK, "%s", nf_last_error());
    if (!d || nf_data_defaults(d, "maf", &cfg, NULL) || nf_flow_create_for_data(&f, d, &cfg)) {
        CHECK(0, "a conditional model: %s", nf_last_error());
        nf_data_free(d);
        unlink(path);
        return;
    }
    const float given[2] = {0.5f, -0.2f};
    float repeated[6], x[6 * 2];
    double lp[6], *rows_lp = NULL;
    for (int r = 0; r < 6; r++)
        repeated[r] = given[r / 3];
    nf_matrix rows = {0}, xs = {0}, coded = {0};
    CHECK(nf_flow_sample_rows(f, given, 2, 3, 7, 1.0, &rows, &xs, &rows_lp) == NF_OK, "%s", nf_last_error());
    CHECK(nf_flow_sample_tempered(f, repeated, 6, 7, 1.0, x, lp) == NF_OK);
    CHECK(rows.rows == 6 && rows.cols == 3 && xs.rows == 6 && xs.cols == 2 && rows_lp, "%zu x %zu", rows.rows,
          rows.cols);
    for (size_t r = 0; rows.values && xs.values && rows_lp && r < 6; r++)
        CHECK(rows.values[3 * r] == x[2 * r] && rows.values[3 * r + 1] == given[r / 3] &&
              rows.values[3 * r + 2] == x[2 * r + 1] && xs.values[2 * r] == x[2 * r] && rows_lp[r] == lp[r],
              "row %zu: %g %g %g", r, rows.values[3 * r], rows.values[3 * r + 1], rows.values[3 * r + 2]);
    nf_matrix_free(&rows);
    nf_matrix_free(&xs);
    free(rows_lp);
    CHECK(nf_flow_sample_rows(f, NULL, 0, 3, 7, 1.0, &rows, NULL, NULL) == NF_ERR_INVALID && said("conditional"));
    nf_flow *plain = NULL; /* an unconditional model: its rows are x, drawn in place or copied when both are asked */
    nf_config pcfg;
    nf_config_default(&pcfg, NF_MODEL_MAF, 2);
    CHECK(nf_flow_create(&plain, &pcfg) == NF_OK && nf_flow_sample(plain, 6, 5, x, lp) == NF_OK);
    CHECK(nf_flow_sample_rows(plain, NULL, 0, 6, 5, 1.0, &rows, NULL, NULL) == NF_OK && rows.rows == 6 &&
          rows.cols == 2 && memcmp(rows.values, x, sizeof x) == 0, "rows alone: %s", nf_last_error());
    nf_matrix_free(&rows);
    CHECK(nf_flow_sample_rows(plain, NULL, 0, 6, 5, 1.0, &rows, &xs, NULL) == NF_OK && xs.values != rows.values &&
          memcmp(rows.values, x, sizeof x) == 0 && memcmp(xs.values, x, sizeof x) == 0, "rows and x");
    nf_matrix_free(&rows);
    nf_matrix_free(&xs);
    CHECK(nf_flow_sample_rows(plain, given, 2, 3, 5, 1.0, &rows, NULL, NULL) == NF_ERR_INVALID && !rows.values);
    nf_flow_free(plain);
    CHECK(nf_flow_sample_rows(f, given, 2, 0, 7, 1.0, &rows, NULL, NULL) == NF_ERR_INVALID && !rows.values);

    const float *dx, *dc;
    size_t n = nf_data_rows(d, NF_PART_TRAIN, &dx, &dc);
    float *z = malloc(sizeof(float) * n * 2);
    CHECK(z && nf_flow_encode_given(f, dx, dc, n, z) == NF_OK);
    CHECK(nf_data_code(f, d, 0, &coded) == NF_OK && coded.rows == n && coded.cols == 3, "%s", nf_last_error());
    for (size_t r = 0; z && coded.values && r < n; r++)
        CHECK(coded.values[3 * r] == z[2 * r] && coded.values[3 * r + 1] == dc[r] &&
              coded.values[3 * r + 2] == z[2 * r + 1], "row %zu", r);
    nf_matrix_free(&coded);
    free(z);
    nf_data_free(d);

    labelled = labelled_model(); /* a model of three classes */
    nf_matrix classes = {0};
    CHECK(nf_flow_labels_of_list(labelled, "2,0", &classes) == NF_OK && classes.rows == 2 && classes.cols == 1 &&
          classes.values[0] == 2 && classes.values[1] == 0, "%s", nf_last_error());
    CHECK(nf_flow_sample_rows(labelled, classes.values, 2, 2, 3, 1.0, &rows, NULL, NULL) == NF_OK && rows.rows == 4 &&
          rows.cols == 3 && rows.values[2] == 2 && rows.values[5] == 2 && rows.values[8] == 0 && rows.values[11] == 0,
          "x, then the class: %s", nf_last_error());
    nf_matrix_free(&rows);
    nf_matrix_free(&classes);
    CHECK(nf_flow_labels_of_list(labelled, "0-3", &classes) == NF_ERR_INVALID && said("from 0 to 2") &&
          !classes.values);
    CHECK(nf_flow_labels_of_list(labelled, "a", &classes) == NF_ERR_INVALID);
    CHECK(nf_flow_labels_of_list(f, "0", &classes) == NF_ERR_INVALID && said("not trained on class labels"));
    nf_flow_free(f);
    nf_flow_free(labelled);
    unlink(path);
}

int main(void)
{
    nf_set_threads(1);
    RUN(test_split_keeps_rows_whole);
    RUN(test_no_split_keeps_order_and_dequantises);
    RUN(test_bounds_and_too_few_rows);
    RUN(test_file_columns_named);
    RUN(test_defaults);
    RUN(test_fit_is_the_recipe);
    RUN(test_merge_columns);
    RUN(test_evaluate_report);
    RUN(test_options_for_a_model);
    RUN(test_file_rows);
    TEST_SUMMARY("test_prepare");
}
