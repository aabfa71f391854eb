/* Hostile values that pass a file's checksum (issue 14, items 3 and 4):
 * a saved standardisation whose std or mean float32 arithmetic cannot
 * apply (1e-300, 1e300, NaN) is refused by the reader with the reason;
 * training data whose spread is outside float32's reach are refused by
 * the standardisation with the real reason, not a non-finite loss. */
#include <string.h>

#include "flow/flow.h"
#include "harness.h"
#include "layers/standardize.h"

static char dir[] = "/tmp/nflow_test_reliability_XXXXXX";

static nf_flow *small_flow(void)
{
    nf_config cfg;
    nf_config_default(&cfg, NF_MODEL_MAF, 2);
    cfg.layers = 1;
    cfg.hidden = 4;
    nf_flow *f = NULL;
    CHECK(nf_flow_create(&f, &cfg) == NF_OK);
    return f;
}

/* Saves f with its standardisation forced to (mean, std), bypassing the
 * checks (standardize_set is the raw setter), and tries to load it. */
static nf_status save_and_load(double mean, double std, char *why, size_t size)
{
    nf_flow *f = small_flow();
    double m[2] = {0, mean}, s[2] = {1, std};
    standardize_set(f->layers[0], m, s);
    char path[256];
    snprintf(path, sizeof path, "%s/m.nfm", dir);
    CHECK(nf_flow_save(f, path) == NF_OK);
    nf_flow_free(f);
    nf_flow *g = NULL;
    nf_status st = nf_flow_load(&g, path);
    snprintf(why, size, "%s", nf_last_error());
    nf_flow_free(g);
    return st;
}

static void test_reader_refuses_unusable_standardisation(void)
{
    char why[512];
    CHECK(save_and_load(0, 1e-300, why, sizeof why) == NF_ERR_FORMAT);
    CHECK(strstr(why, "column 1: standard deviation 1e-300") != NULL, "%s", why);
    CHECK(save_and_load(0, 1e300, why, sizeof why) == NF_ERR_FORMAT);
    CHECK(strstr(why, "standard deviation 1e+300") != NULL, "%s", why);
    CHECK(save_and_load(1e300, 1, why, sizeof why) == NF_ERR_FORMAT);
    CHECK(strstr(why, "mean 1e+300 is outside") != NULL, "%s", why);
    CHECK(save_and_load(NAN, 1, why, sizeof why) == NF_ERR_FORMAT);
    CHECK(strstr(why, "not a number") != NULL, "%s", why);
    CHECK(save_and_load(3, 2, why, sizeof why) == NF_OK, "%s", why);
}

static void test_spread_outside_float32_refused(void)
{
    enum { N = 50 };
    float x[N * 2];
    for (int i = 0; i < N; i++) {
        x[2 * i] = (float)i;
        x[2 * i + 1] = (float)(i % 7) * 1e-42f; /* subnormal: spread ~1e-42 */
    }
    nf_flow *f = small_flow();
    CHECK(nf_flow_fit_standardization(f, x, N) == NF_ERR_INVALID);
    CHECK(strstr(nf_last_error(), "column 1: standard deviation") != NULL, "%s", nf_last_error());
    for (int i = 0; i < N; i++)
        x[2 * i + 1] = (i % 2 ? 3e38f : -3e38f);
    CHECK(nf_flow_fit_standardization(f, x, N) == NF_ERR_INVALID);
    CHECK(strstr(nf_last_error(), "column 1") != NULL, "%s", nf_last_error());
    nf_flow_free(f);
}

/* A small file whose coupling claims 16 hidden layers of 14,864 units
 * (3.5e9 parameters) while the header and the parameters section hold
 * 676: refused from the sizes, before any layer is built. */
/* A model file's header section for 2 columns, as nf_flow_save writes it. */
static nf_status put_header(mf_writer *w, int64_t layers, int64_t params)
{
    nf_status st = mf_begin(w, "nflow");
    if (!st) st = mf_put_str(w, "version", NF_VERSION_STRING);
    if (!st) st = mf_put_i64(w, "dim", 2);
    if (!st) st = mf_put_str(w, "base", "normal");
    if (!st) st = mf_put_f64(w, "box_lo", 0);
    if (!st) st = mf_put_f64(w, "box_hi", 1);
    if (!st) st = mf_put_i64(w, "layers", layers);
    if (!st) st = mf_put_i64(w, "params", params);
    return st;
}

/* The identity standardisation of 2 columns. */
static nf_status put_standardize(mf_writer *w)
{
    const double mean[2] = {0, 0}, std[2] = {1, 1};
    nf_status st = mf_begin(w, "standardize");
    if (!st) st = mf_put_f64s(w, "mean", mean, 2);
    if (!st) st = mf_put_f64s(w, "std", std, 2);
    return st;
}

static void test_sizes_checked_before_allocating(void)
{
    char path[256];
    snprintf(path, sizeof path, "%s/huge.nfm", dir);
    mf_writer *w = mf_writer_new();
    int32_t mask[2] = {1, 0};
    float params[676] = {0};
    nf_status st = put_header(w, 2, 676);
    if (!st) st = put_standardize(w);
    if (!st) st = mf_begin(w, "affine_coupling");
    if (!st) st = mf_put_i32s(w, "mask", mask, 2);
    if (!st) st = mf_put_i64(w, "hidden", 14864);
    if (!st) st = mf_put_i64(w, "hidden_layers", 16);
    if (!st) st = mf_put_str(w, "activation", "relu");
    if (!st) st = mf_put_f64(w, "log_scale_bound", 3);
    if (!st) st = mf_begin(w, "parameters");
    if (!st) st = mf_put_f32s(w, "values", params, 676);
    if (!st) st = mf_writer_save(w, path);
    mf_writer_free(w);
    CHECK(st == NF_OK, "%s", nf_last_error());
    nf_flow *f = NULL;
    CHECK(nf_flow_load(&f, path) == NF_ERR_FORMAT);
    CHECK(strstr(nf_last_error(), "section 2 ('affine_coupling'): its sizes imply more parameters than the 676") !=
              NULL,
          "%s", nf_last_error());
    nf_flow_free(f);
}

/* A fuzzer's finding: image sizes whose product overflows 64 bits were
 * multiplied as integers before they were compared with the model's size. */
static void test_huge_image_shape_refused(void)
{
    char path[256];
    snprintf(path, sizeof path, "%s/image.nfm", dir);
    mf_writer *w = mf_writer_new();
    int32_t shape[3] = {1 << 30, 1 << 30, 97};
    nf_status st = put_header(w, 1, 0);
    if (!st) st = mf_begin(w, "training");
    if (!st) st = mf_put_i64(w, "rows", 10);
    if (!st) st = mf_put_i64(w, "epochs", 1);
    if (!st) st = mf_put_i64(w, "best_epoch", 1);
    if (!st) st = mf_put_f64(w, "train_log_likelihood", 0);
    if (!st) st = mf_put_f64(w, "val_log_likelihood", 0);
    if (!st) st = mf_put_f64(w, "test_log_likelihood", 0);
    if (!st) st = mf_put_i32s(w, "image_shape", shape, 3);
    if (!st) st = put_standardize(w);
    if (!st) st = mf_begin(w, "parameters");
    if (!st) st = mf_put_f32s(w, "values", NULL, 0);
    if (!st) st = mf_writer_save(w, path);
    mf_writer_free(w);
    CHECK(st == NF_OK, "%s", nf_last_error());
    nf_flow *f = NULL;
    CHECK(nf_flow_load(&f, path) == NF_ERR_FORMAT);
    CHECK(strstr(nf_last_error(), "image_shape 1073741824 x 1073741824 x 97 is not the model's 2 columns") != NULL,
          "%s", nf_last_error());
    nf_flow_free(f);
}

int main(void)
{
    if (!mkdtemp(dir))
        return 1;
    RUN(test_sizes_checked_before_allocating);
    RUN(test_huge_image_shape_refused);
    RUN(test_reader_refuses_unusable_standardisation);
    RUN(test_spread_outside_float32_refused);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    TEST_SUMMARY("test_reliability");
}
