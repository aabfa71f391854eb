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

#include "harness.h"
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

int main(void)
{
    RUN(test_images_recognised);
    TEST_SUMMARY("test_images");
}
