/* The autoregressive models through the public API, in float: the density
 * of a sample (sequential pass) equals the density recomputed from the
 * sample (parallel pass), codes round-trip, models save and load exactly,
 * a file whose weights break a MADE mask is refused. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "flow/flow.h"
#include "harness.h"
#include "layers/autoregressive.h"
#include "nets/made.h"

static char dir[] = "/tmp/nflow_test_ar_XXXXXX";

enum { DIM = 3, N_TRAIN = 600, N_S = 300 };

/* Correlated, skewed 3-D data. */
static float *make_data(void)
{
    float *x = malloc(sizeof(float) * DIM * N_TRAIN);
    rng r;
    rng_seed(&r, 5);
    for (int i = 0; i < N_TRAIN; i++) {
        double a = rng_normal(&r), b = rng_normal(&r), c = rng_normal(&r);
        x[DIM * i] = (float)a;
        x[DIM * i + 1] = (float)(0.5 * a * a + 0.3 * b);
        x[DIM * i + 2] = (float)(a - b + 0.2 * exp(0.5 * c));
    }
    return x;
}

static nf_flow *trained(nf_model model, int batch_norm, const float *x)
{
    nf_config cfg;
    nf_config_default(&cfg, model, DIM);
    cfg.layers = 3;
    cfg.hidden = 16;
    cfg.components = 3;
    cfg.batch_norm = batch_norm;
    cfg.order = NF_ORDER_RANDOM;
    cfg.random_degrees = batch_norm; /* cover both degree rules */
    nf_flow *f = NULL;
    CHECK(nf_flow_create(&f, &cfg) == NF_OK, "%s", nf_last_error());
    if (!f)
        return NULL;
    CHECK(nf_flow_fit_standardization(f, x, N_TRAIN) == NF_OK);
    nf_train_options o;
    nf_train_options_default(&o);
    o.max_epochs = 3;
    o.batch = 64;
    CHECK(nf_flow_train(f, x, N_TRAIN, NULL, 0, &o, NULL) == NF_OK, "%s", nf_last_error());
    return f;
}

static void check_model(nf_model model, int batch_norm)
{
    float *x = make_data();
    nf_flow *f = trained(model, batch_norm, x);
    if (!f) {
        free(x);
        return;
    }
    float s[DIM * N_S], z[DIM * N_S], back[DIM * N_S];
    double lp_sample[N_S], lp_again[N_S];
    CHECK(nf_flow_sample(f, N_S, 9, s, lp_sample) == NF_OK);
    CHECK(nf_flow_log_prob(f, s, N_S, lp_again) == NF_OK);
    for (int i = 0; i < N_S; i++)
        CHECK_CLOSE(lp_sample[i], lp_again[i], 2e-3, 1e-3);
    CHECK(nf_flow_encode(f, x, N_S, z) == NF_OK);
    CHECK(nf_flow_decode(f, z, N_S, back) == NF_OK);
    for (int i = 0; i < DIM * N_S; i++)
        CHECK_CLOSE(back[i], x[i], 1e-4, 1e-4);
    /* save and load: the same densities and samples, bit for bit */
    char path[256];
    snprintf(path, sizeof path, "%s/m%d_%d.nfm", dir, (int)model, batch_norm);
    CHECK(nf_flow_save(f, path) == NF_OK, "%s", nf_last_error());
    nf_flow *g = NULL;
    CHECK(nf_flow_load(&g, path) == NF_OK, "%s", nf_last_error());
    if (g) {
        float s2[DIM * N_S];
        double lp2[N_S];
        CHECK(nf_flow_log_prob(g, s, N_S, lp2) == NF_OK);
        CHECK(memcmp(lp2, lp_again, sizeof lp2) == 0, "loaded model gives other densities");
        CHECK(nf_flow_sample(g, N_S, 9, s2, NULL) == NF_OK);
        CHECK(memcmp(s2, s, sizeof s2) == 0, "loaded model gives other samples");
        CHECK(g->n_state == f->n_state && memcmp(g->state, f->state, sizeof(real) * f->n_state) == 0);
        nf_flow_free(g);
    }
    nf_flow_free(f);
    free(x);
}

static void test_made(void) { check_model(NF_MODEL_MADE, 0); }
static void test_made_mog(void) { check_model(NF_MODEL_MADE_MOG, 0); }
static void test_maf(void) { check_model(NF_MODEL_MAF, 0); }
static void test_maf_batch_norm(void) { check_model(NF_MODEL_MAF, 1); }
static void test_maf_mog(void) { check_model(NF_MODEL_MAF_MOG, 1); }
static void test_iaf(void) { check_model(NF_MODEL_IAF, 0); }
static void test_iaf_mog(void) { check_model(NF_MODEL_IAF_MOG, 1); }

/* A weight outside a MADE's mask would break the autoregressive structure
 * (the sequential inverse would be wrong): loading refuses it. */
static void test_mask_violation_refused(void)
{
    float *x = make_data();
    nf_flow *f = trained(NF_MODEL_MAF, 0, x);
    layer *l = f->layers[2]; /* after the standardisation and the whitening */
    CHECK(strcmp(l->ops->tag, "maf") == 0);
    made *m = autoregressive_net(l);
    int found = 0;
    for (int j = 0; j < m->hidden && !found; j++)
        for (int i = 0; i < m->n && !found; i++)
            if (!made_allowed(m, 0, j, i)) {
                f->params[l->p_off + (size_t)j * m->n + i] = 0.5f;
                found = 1;
            }
    CHECK(found, "a MADE with masked weights");
    char path[256];
    snprintf(path, sizeof path, "%s/tampered.nfm", dir);
    CHECK(nf_flow_save(f, path) == NF_OK);
    nf_flow *g = NULL;
    CHECK(nf_flow_load(&g, path) == NF_ERR_FORMAT);
    CHECK(g == NULL && strstr(nf_last_error(), "mask") && strstr(nf_last_error(), "tampered.nfm"), "%s",
          nf_last_error());
    nf_flow_free(f);
    free(x);
}

/* A parameter that is NaN or infinite, anywhere in the buffer (the check
 * runs in blocks), is refused with its index. */
static void test_nonfinite_parameter_refused(void)
{
    float *x = make_data();
    nf_flow *f = trained(NF_MODEL_MAF, 0, x);
    size_t at[] = {0, f->n_params / 2 + 1, f->n_params - 1};
    float bad[] = {NAN, INFINITY, -INFINITY};
    for (int k = 0; k < 3; k++) {
        char path[256], want[64];
        float keep = f->params[at[k]];
        f->params[at[k]] = bad[k];
        snprintf(path, sizeof path, "%s/nonfinite%d.nfm", dir, k);
        CHECK(nf_flow_save(f, path) == NF_OK);
        f->params[at[k]] = keep;
        nf_flow *g = NULL;
        snprintf(want, sizeof want, "parameter %zu is not finite", at[k]);
        CHECK(nf_flow_load(&g, path) == NF_ERR_FORMAT && g == NULL);
        CHECK(strstr(nf_last_error(), want) != NULL, "%s (wanted '%s')", nf_last_error(), want);
    }
    nf_flow_free(f);
    free(x);
}

/* The public calls run the sequential direction in a per-thread scratch
 * (no backward pass follows); the passes a backward pass may follow keep
 * every row's activations in the layer. Both give the same bits, over
 * more rows than one tile, for MAF (sampling) and IAF (density). */
static void test_scratch_same_bits(void)
{
    float *x = make_data();
    enum { ROWS = 200 };
    for (int iaf = 0; iaf < 2; iaf++) {
        nf_flow *f = trained(iaf ? NF_MODEL_IAF : NF_MODEL_MAF, 0, x);
        if (!f)
            continue;
        float in[ROWS * DIM], pub[ROWS * DIM], kept[ROWS * DIM];
        rng r;
        rng_seed(&r, 8);
        for (int i = 0; i < ROWS * DIM; i++)
            in[i] = (float)rng_normal(&r);
        /* MAF: z -> x is sequential; IAF: x -> z */
        CHECK((iaf ? nf_flow_encode(f, in, ROWS, pub) : nf_flow_decode(f, in, ROWS, pub)) == NF_OK);
        CHECK(f->layers[1]->inference == 0, "the inference flag outlived the call");
        CHECK(flow_reserve(f, ROWS) == NF_OK); /* training kept the layers' buffers for its batch of 64 */
        if (iaf) {
            double lp[ROWS];
            flow_x2z(f, ROWS, in, lp);
            memcpy(kept, f->work.act[f->n_layers - 1], sizeof kept);
        } else {
            flow_z2x(f, ROWS, in, kept, NULL);
        }
        CHECK(memcmp(pub, kept, sizeof kept) == 0, "%s: scratch and kept activations differ", iaf ? "iaf" : "maf");
        nf_flow_free(f);
    }
    free(x);
}

/* Passes no backward pass follows run in the flow's shared scratch (trained
 * in this process or not), laid out for the pass's rows, while the layers'
 * own buffers may hold fewer (a training batch's, flow_reserve_rows): the
 * same bits as in each layer's own buffers of every row, for MADEs of
 * different sizes (the scratch is the largest's), both directions of MAF
 * and IAF, on one thread (the sequential tiles in the shared scratch) and
 * two (a scratch per thread). */
static void test_shared_scratch(void)
{
    enum { ROWS = 300, BATCH = 8 };
    static const int hidden[] = {24, 40, 8};
    for (int run = 0; run < 4; run++) {
        int iaf = run % 2, threads = 1 + run / 2;
        nf_set_threads(threads);
        nf_flow *f = NULL;
        CHECK(nf_flow_new(&f, DIM, NF_BASE_NORMAL) == NF_OK);
        for (int k = 0; k < 3; k++) {
            nf_made_options o;
            nf_made_options_default(&o);
            o.hidden = hidden[k];
            o.hidden_layers = 1 + k % 2;
            CHECK((iaf ? nf_flow_add_iaf(f, &o) : nf_flow_add_maf(f, &o)) == NF_OK, "%s", nf_last_error());
        }
        CHECK(nf_flow_finalize(f, 3) == NF_OK, "%s", nf_last_error());
        rng r;
        rng_seed(&r, 4);
        for (size_t k = 0; k < f->n_params; k++)
            f->params[k] = (float)(0.3 * rng_normal(&r));
        flow_constrain(f, f->params);
        static float in[ROWS * DIM], x_pub[ROWS * DIM], x_kept[ROWS * DIM];
        double lp_pub[ROWS], lp_kept[ROWS], unused[ROWS];
        for (int i = 0; i < ROWS * DIM; i++)
            in[i] = (float)rng_normal(&r);
        CHECK(flow_reserve_rows(f, ROWS, BATCH) == NF_OK && f->work.own_rows == BATCH); /* as training does */
        CHECK(nf_flow_log_prob(f, in, ROWS, lp_pub) == NF_OK && nf_flow_decode(f, in, ROWS, x_pub) == NF_OK);
        CHECK(f->work.own_rows == BATCH, "an evaluation grew the rows a backward pass may have");
        CHECK(f->work.scratch != NULL && f->layers[f->n_layers - 1]->scratch == NULL,
              "no scratch, or it outlived the call");
        CHECK(flow_reserve(f, ROWS) == NF_OK); /* every layer's own buffers for every row */
        flow_x2z(f, ROWS, in, lp_kept);
        flow_z2x(f, ROWS, in, x_kept, unused);
        CHECK(memcmp(lp_pub, lp_kept, sizeof lp_kept) == 0 && memcmp(x_pub, x_kept, sizeof x_kept) == 0,
              "%s, %d thread(s): the shared scratch and the layers' own buffers differ", iaf ? "iaf" : "maf", threads);
        flow_set_inference(f, 1);
        int given = 0, made_layers = 0;
        for (int l = 0; l < f->n_layers; l++) {
            made_layers += f->layers[l]->ops->scratch_floats != NULL;
            given += f->layers[l]->scratch == f->work.scratch;
        }
        CHECK(made_layers == 3 && given == 3, "%d of %d layers got the scratch", given, made_layers);
        flow_set_inference(f, 0);
        nf_flow_free(f);
    }
    nf_set_threads(1);
}

/* An untrained MADE's output layer is zero: a pass no backward pass
 * follows skips the network (its outputs taken as 0) and gives the bits
 * of the full computation, both directions of MAF and IAF, with and
 * without a context; one weight off zero and the network runs again. */
static void test_untrained_layers_skipped(void)
{
    enum { ROWS = 150 };
    for (int run = 0; run < 4; run++) {
        int iaf = run % 2, nc = run / 2;
        nf_config cfg;
        nf_config_default(&cfg, iaf ? NF_MODEL_IAF : NF_MODEL_MAF, DIM);
        cfg.layers = 2;
        cfg.hidden = 24;
        cfg.context_dim = nc;
        nf_flow *f = NULL;
        CHECK(nf_flow_create(&f, &cfg) == NF_OK, "%s", nf_last_error());
        if (!f)
            continue;
        layer *ar = NULL; /* the first MADE layer (standardisation and whitening come first) */
        for (int l = f->n_layers - 1; l >= 0; l--)
            ar = f->layers[l]->ops->scratch_floats ? f->layers[l] : ar;
        CHECK(ar != NULL);
        if (!ar)
            continue;
        made *first = autoregressive_net(ar);
        CHECK(made_output_is_zero(first, f->params + ar->p_off), "an untrained MADE's outputs");
        static float in[ROWS * DIM], ctx[ROWS], x_pub[ROWS * DIM], x_kept[ROWS * DIM];
        double lp_pub[ROWS], lp_kept[ROWS], unused[ROWS];
        rng r;
        rng_seed(&r, 9);
        for (int i = 0; i < ROWS * DIM; i++)
            in[i] = (float)(2 * rng_normal(&r));
        for (int i = 0; i < ROWS; i++)
            ctx[i] = (float)rng_normal(&r);
        for (int moved = 0; moved < 2; moved++) {
            CHECK(nf_flow_log_prob_given(f, in, nc ? ctx : NULL, ROWS, lp_pub) == NF_OK &&
                  nf_flow_decode_given(f, in, nc ? ctx : NULL, ROWS, x_pub) == NF_OK, "%s", nf_last_error());
            CHECK(flow_reserve(f, ROWS) == NF_OK);
            flow_load_context(f, nc ? ctx : NULL, 0, ROWS);
            flow_x2z(f, ROWS, in, lp_kept); /* not in inference: every network computed */
            flow_z2x(f, ROWS, in, x_kept, unused);
            CHECK(memcmp(lp_pub, lp_kept, sizeof lp_kept) == 0 && memcmp(x_pub, x_kept, sizeof x_kept) == 0,
                  "%s%s, %s: the skipped networks and the computed ones differ", iaf ? "iaf" : "maf",
                  nc ? " with a context" : "", moved ? "trained" : "untrained");
            /* an output bias off zero: the network runs */
            f->params[ar->p_off + made_n_params(first) - 1] = 0.25f;
            CHECK(!made_output_is_zero(first, f->params + ar->p_off));
        }
        nf_flow_free(f);
    }
}

/* Training keeps each MADE's own buffers for its batch (16 rows) and
 * scores validation chunks of up to 1,024 rows in the shared scratch: the
 * validation figure it reports is the public evaluation's of the kept
 * parameters, bit for bit, for MAF (its density one pass) and IAF (its
 * density sequential), over more rows than one chunk. */
static void test_validation_beyond_the_batch(void)
{
    enum { N_VAL = 1500 };
    float *x = make_data(), *v = malloc(sizeof(float) * DIM * N_VAL);
    for (int i = 0; i < DIM * N_VAL; i++)
        v[i] = x[i % (DIM * N_TRAIN)] + 0.01f * (float)(i % 7);
    for (int iaf = 0; iaf < 2; iaf++) {
        nf_config cfg;
        nf_config_default(&cfg, iaf ? NF_MODEL_IAF : NF_MODEL_MAF, DIM);
        cfg.layers = 2;
        cfg.hidden = 32;
        cfg.hidden_layers = 2;
        nf_flow *f = NULL;
        CHECK(nf_flow_create(&f, &cfg) == NF_OK, "%s", nf_last_error());
        CHECK(nf_flow_fit_standardization(f, x, N_TRAIN) == NF_OK);
        nf_train_options o;
        nf_train_options_default(&o);
        o.max_epochs = 3;
        o.batch = 16;
        nf_train_result res;
        CHECK(nf_flow_train(f, x, N_TRAIN, v, N_VAL, &o, &res) == NF_OK, "%s", nf_last_error());
        CHECK(f->work.own_rows == 16 && f->work.max_rows == 1024, "buffers: %d rows for training, %d in all",
              f->work.own_rows, f->work.max_rows);
        CHECK(res.best_epoch > 0, "%s: no epoch validated above the start", iaf ? "iaf" : "maf");
        double lp[N_VAL], sum = 0;
        CHECK(nf_flow_log_prob(f, v, N_VAL, lp) == NF_OK);
        for (int i = 0; i < N_VAL; i++)
            sum += lp[i];
        CHECK(res.val_log_likelihood == sum / N_VAL, "%s: validation %.9g in training, %.9g after",
              iaf ? "iaf" : "maf", res.val_log_likelihood, sum / N_VAL);
        nf_flow_free(f);
    }
    free(x);
    free(v);
}

static void test_bad_config(void)
{
    nf_config cfg;
    nf_flow *f = NULL;
    nf_config_default(&cfg, NF_MODEL_MAF_MOG, 4);
    cfg.components = 0;
    CHECK(nf_flow_create(&f, &cfg) == NF_ERR_INVALID && f == NULL);
    CHECK(strstr(nf_last_error(), "components") != NULL, "%s", nf_last_error());
    nf_config_default(&cfg, NF_MODEL_MAF, 4);
    cfg.order = (nf_order)7;
    CHECK(nf_flow_create(&f, &cfg) == NF_ERR_INVALID && f == NULL);
    nf_made_options o;
    nf_made_options_default(&o);
    CHECK(nf_flow_new(&f, 3, NF_BASE_NORMAL) == NF_OK);
    o.perm = (const int[]){0, 0, 2};
    CHECK(nf_flow_add_maf(f, &o) == NF_ERR_INVALID);
    CHECK(strstr(nf_last_error(), "permutation") != NULL, "%s", nf_last_error());
    nf_flow_free(f);
}

int main(void)
{
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    nf_set_threads(1);
    RUN(test_made);
    RUN(test_made_mog);
    RUN(test_maf);
    RUN(test_maf_batch_norm);
    RUN(test_maf_mog);
    RUN(test_iaf);
    RUN(test_iaf_mog);
    RUN(test_mask_violation_refused);
    RUN(test_nonfinite_parameter_refused);
    RUN(test_scratch_same_bits);
    RUN(test_shared_scratch);
    RUN(test_validation_beyond_the_batch);
    RUN(test_untrained_layers_skipped);
    RUN(test_bad_config);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    TEST_SUMMARY("test_autoregressive");
}
