/* The race among models (nf_flow_fit_auto): the winner ends with the bits
 * of the same model trained alone (a run paused between rounds loses
 * nothing), the rounds halve the field, the race is deterministic, its
 * table is saved with the model, and the stop flag, a time limit, a
 * context and data without validation rows all give a model; on a
 * mixture of Gaussians the gmm wins. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "nflow.h"

enum { ROWS = 1250, DIM = 2 };

/* Two standard normal draws (Box-Muller) from a seeded LCG state. */
static void two_normals(uint64_t *s, double *g0, double *g1)
{
    double u[4];
    for (int k = 0; k < 4; k++) {
        *s = *s * 6364136223846793005ull + 1442695040888963407ull;
        u[k] = ((double)(*s >> 11) + 0.5) / 9007199254740992.0;
    }
    *g0 = sqrt(-2 * log(u[0])) * cos(6.283185307179586 * u[1]);
    *g1 = sqrt(-2 * log(u[2])) * cos(6.283185307179586 * u[3]);
}

/* A banana: x1 = x0^2 / 2 + noise, and a context column that shifts it. */
static void fill(float *x, float *c)
{
    uint64_t s = 12345;
    for (int r = 0; r < ROWS; r++) {
        double g0, g1;
        two_normals(&s, &g0, &g1);
        c[r] = (float)(r % 3);
        x[r * DIM] = (float)g0 + c[r];
        x[r * DIM + 1] = (float)(g0 * g0 / 2 + 0.5 * g1);
    }
}

static nf_data *prepared(float *x, float *c, int nc, double val_fraction)
{
    nf_data_options o;
    nf_data_options_default(&o);
    o.val_fraction = val_fraction;
    o.test_fraction = 0;
    nf_data *d = NULL;
    fill(x, c);
    CHECK(nf_data_from_arrays(&d, x, nc ? c : NULL, ROWS, DIM, nc, NULL, NULL, 0, &o) == NF_OK, "%s", nf_last_error());
    return d;
}

/* 50 steps an epoch: the first round (500 steps) is 10 epochs, the second 20. */
static void race_options(nf_train_options *o)
{
    nf_train_options_default(o);
    o->batch = 20;
    o->max_epochs = 30;
    o->patience = 6;
    o->patience_steps = 0;
}

/* The same model: the same log-densities, bit for bit, on the data's rows. */
static int same_model(nf_flow *a, nf_flow *b, const float *x)
{
    double la[ROWS], lb[ROWS];
    return nf_flow_param_count(a) == nf_flow_param_count(b) && nf_flow_log_prob(a, x, ROWS, la) == NF_OK &&
           nf_flow_log_prob(b, x, ROWS, lb) == NF_OK && memcmp(la, lb, sizeof la) == 0;
}

static void test_winner_is_the_model_trained_alone(void)
{
    static float x[ROWS * DIM], c[ROWS];
    nf_data *d = prepared(x, c, 0, 0.2);
    if (!d)
        return;
    nf_train_options o;
    race_options(&o);
    nf_flow *w = NULL;
    nf_train_result res;
    CHECK(nf_flow_fit_auto(&w, d, &o, 0, &res) == NF_OK && w, "%s", nf_last_error());
    if (w) {
        int n = nf_flow_race_count(w), winners = 0, out[4] = {0};
        nf_race_entry win;
        nf_race_entry_init(&win, sizeof win);
        CHECK(n == 5, "%d candidates (four flows and the gmm)", n);
        for (int i = 0; i < n; i++) {
            nf_race_entry e;
            nf_race_entry_init(&e, sizeof e);
            CHECK(nf_flow_race_entry(w, i, &e) == NF_OK, "%s", nf_last_error());
            /* the gmm (fitted first) meets the last flow at the end: "round 3" for the one that lost there */
            int gmm = !strcmp(e.model, "gmm");
            CHECK(e.round >= 0 && e.round <= 3 && (!gmm || e.round == 0 || e.round == 3), "%s: round %d", e.model,
                  e.round);
            if (e.round == 0) {
                winners++;
                win = e;
            } else {
                out[e.round]++;
                /* a candidate dropped after round k trained 10 * 2^(k-1) epochs, or stopped sooner */
                CHECK(e.round == 3 || e.epochs <= 10 << (e.round - 1), "%s dropped after round %d at epoch %d",
                      e.model, e.round, e.epochs);
            }
            CHECK(isfinite(e.val_log_likelihood) && e.seconds >= 0, "%s: val %g, %g s", e.model,
                  e.val_log_likelihood, e.seconds);
        }
        CHECK(winners == 1 && out[1] == 2 && out[2] == 1 && out[3] == 1, "winners %d, out %d %d %d", winners, out[1],
              out[2], out[3]);
        CHECK(strcmp(win.model, "gmm") != 0, "a banana is no mixture of Gaussians, yet the gmm won");
        CHECK(win.epochs == res.epochs && win.best_epoch == res.best_epoch &&
                  win.val_log_likelihood == res.val_log_likelihood,
              "the winner's entry (%d, %d, %g) is not its training (%d, %d, %g)", win.epochs, win.best_epoch,
              win.val_log_likelihood, res.epochs, res.best_epoch, res.val_log_likelihood);
        CHECK(nf_flow_race_entry(w, n, &win) == NF_ERR_INVALID, "entry %d of %d", n, n);

        CHECK(win.epochs > 20, "the winner trained %d epochs: not past the rounds (10, 20)", win.epochs);
        /* the same model and dropout trained in one go */
        nf_config cfg;
        nf_train_options alone;
        CHECK(nf_data_defaults(d, win.model, &cfg, &alone) == NF_OK, "%s", nf_last_error());
        nf_flow *f = NULL;
        CHECK(nf_flow_create_for_data(&f, d, &cfg) == NF_OK, "%s", nf_last_error());
        alone = o;
        alone.dropout = win.dropout;
        nf_train_result r1;
        CHECK(f && nf_flow_fit(f, d, &alone, &r1) == NF_OK, "%s", nf_last_error());
        CHECK(f && same_model(f, w, x), "the race's %s (dropout %g) differs from the one trained alone", win.model,
              win.dropout);
        CHECK(r1.epochs == res.epochs && r1.val_log_likelihood == res.val_log_likelihood, "epochs %d / %d",
              r1.epochs, res.epochs);
        nf_flow_free(f);

        /* deterministic, and the table saved with the model */
        nf_flow *again = NULL;
        CHECK(nf_flow_fit_auto(&again, d, &o, 0, NULL) == NF_OK && again && same_model(again, w, x),
              "a second race chose or trained otherwise");
        char path[] = "/tmp/nflow_test_race_XXXXXX";
        int fd = mkstemp(path);
        CHECK(fd >= 0, "mkstemp");
        if (fd >= 0)
            close(fd);
        nf_flow *loaded = NULL;
        CHECK(nf_flow_save(w, path) == NF_OK && nf_flow_load(&loaded, path) == NF_OK, "%s", nf_last_error());
        CHECK(loaded && nf_flow_race_count(loaded) == n, "loaded: %d candidates", loaded ? nf_flow_race_count(loaded) : -1);
        for (int i = 0; loaded && i < n; i++) {
            nf_race_entry a, b;
            nf_race_entry_init(&a, sizeof a);
            nf_race_entry_init(&b, sizeof b);
            nf_flow_race_entry(w, i, &a);
            nf_flow_race_entry(loaded, i, &b);
            CHECK(!strcmp(a.model, b.model) && a.dropout == b.dropout && a.layers == b.layers &&
                      a.hidden == b.hidden && a.epochs == b.epochs && a.best_epoch == b.best_epoch &&
                      a.round == b.round && a.val_log_likelihood == b.val_log_likelihood,
                  "entry %d: %s / %s", i, a.model, b.model);
        }
        char text[8192];
        CHECK(loaded && nf_flow_describe(loaded, text, sizeof text) > 0 && strstr(text, "chosen by a race") &&
                  strstr(text, "the winner"),
              "describe: %s", text);
        nf_flow_free(loaded);
        nf_flow_free(again);
        unlink(path);
    }
    nf_flow_free(w);
    nf_data_free(d);
}

static void test_stop_time_context_and_no_validation(void)
{
    static float x[ROWS * DIM], c[ROWS];
    nf_train_options o;
    race_options(&o);
    /* the stop flag already set: a model all the same, marked stopped */
    nf_data *d = prepared(x, c, 0, 0.2);
    volatile int stop = 1;
    o.stop = &stop;
    nf_flow *f = NULL;
    nf_train_result res;
    CHECK(d && nf_flow_fit_auto(&f, d, &o, 0, &res) == NF_OK && f && res.stopped, "%s", nf_last_error());
    nf_flow_free(f);
    f = NULL;
    o.stop = NULL;
    /* a time limit already spent: the race ends before its first epoch, one winner, and it trains on */
    CHECK(d && nf_flow_fit_auto(&f, d, &o, 1e-9, &res) == NF_OK && f, "%s", nf_last_error());
    int winners = 0;
    for (int i = 0; f && i < nf_flow_race_count(f); i++) {
        nf_race_entry e;
        nf_race_entry_init(&e, sizeof e);
        nf_flow_race_entry(f, i, &e);
        winners += e.round == 0;
        CHECK(e.round == 0 ? e.epochs == res.epochs : !strcmp(e.model, "gmm") || e.epochs == 0,
              "%s: %d epochs in a race with no time", e.model, e.epochs);
    }
    CHECK(winners == 1, "%d winners", winners);
    nf_flow_free(f);
    f = NULL;
    nf_data_free(d);
    /* a conditional model: every candidate takes the context */
    d = prepared(x, c, 1, 0.2);
    o.max_epochs = 6;
    CHECK(d && nf_flow_fit_auto(&f, d, &o, 0, &res) == NF_OK && f && nf_flow_context_dim(f) == 1, "%s",
          nf_last_error());
    nf_flow_free(f);
    f = NULL;
    nf_data_free(d);
    /* no validation rows: nothing to race on, the data's default model */
    d = prepared(x, c, 0, 0);
    CHECK(d && nf_flow_fit_auto(&f, d, &o, 0, &res) == NF_OK && f && nf_flow_race_count(f) == 0, "%s",
          nf_last_error());
    nf_flow_free(f);
    nf_data_free(d);
    CHECK(nf_flow_fit_auto(NULL, NULL, &o, 0, NULL) == NF_ERR_INVALID, "NULL arguments");
}

/* Four tight clusters of a Gaussian mixture: the gmm wins, and it is the
 * gmm fitted alone; a context keeps it out of the race. */
static void test_mixture_wins_and_context_keeps_it_out(void)
{
    static float x[ROWS * DIM], c[ROWS];
    static const double centre[4][2] = {{0, 0}, {6, 1}, {-5, 4}, {2, -7}};
    uint64_t s = 77;
    for (int r = 0; r < ROWS; r++) {
        double g0, g1;
        two_normals(&s, &g0, &g1);
        x[r * DIM] = (float)(centre[r % 4][0] + 0.05 * g0);
        x[r * DIM + 1] = (float)(centre[r % 4][1] + 0.03 * g0 + 0.02 * g1);
        c[r] = (float)(r % 4);
    }
    nf_data_options dopt;
    nf_data_options_default(&dopt);
    dopt.val_fraction = 0.2;
    dopt.test_fraction = 0;
    nf_data *d = NULL;
    CHECK(nf_data_from_arrays(&d, x, NULL, ROWS, DIM, 0, NULL, NULL, 0, &dopt) == NF_OK, "%s", nf_last_error());
    nf_train_options o;
    race_options(&o);
    o.max_epochs = 12;
    nf_flow *w = NULL, *alone = NULL;
    nf_train_result res, r1;
    CHECK(d && nf_flow_fit_auto(&w, d, &o, 0, &res) == NF_OK && w, "%s", nf_last_error());
    char text[8192];
    if (w)
        nf_flow_describe(w, text, sizeof text);
    CHECK(w && strstr(text, "model: gmm, 4 full-covariance"), "the race chose: %s", w ? text : "");
    nf_config cfg;
    CHECK(d && nf_data_defaults(d, "gmm", &cfg, NULL) == NF_OK && nf_flow_create_for_data(&alone, d, &cfg) == NF_OK &&
              nf_flow_fit(alone, d, &o, &r1) == NF_OK,
          "%s", nf_last_error());
    CHECK(w && alone && same_model(w, alone, x), "the race's gmm differs from the gmm fitted alone");
    CHECK(r1.val_log_likelihood == res.val_log_likelihood && r1.epochs == res.epochs);
    nf_race_entry e;
    nf_race_entry_init(&e, sizeof e);
    CHECK(w && nf_flow_race_count(w) == 5 && nf_flow_race_entry(w, 4, &e) == NF_OK && !strcmp(e.model, "gmm") &&
          e.round == 0 && e.hidden == 4, "%s round %d, %d components", e.model, e.round, e.hidden);
    nf_flow_free(w);
    nf_flow_free(alone);
    nf_data_free(d);
    d = NULL;
    w = NULL;
    CHECK(nf_data_from_arrays(&d, x, c, ROWS, DIM, 1, NULL, NULL, 0, &dopt) == NF_OK, "%s", nf_last_error());
    o.max_epochs = 2;
    CHECK(d && nf_flow_fit_auto(&w, d, &o, 0, &res) == NF_OK && w && nf_flow_race_count(w) == 4, "%s",
          nf_last_error());
    nf_flow_free(w);
    nf_data_free(d);
}

int main(void)
{
    nf_set_threads(1);
    RUN(test_mixture_wins_and_context_keeps_it_out);
    RUN(test_winner_is_the_model_trained_alone);
    RUN(test_stop_time_context_and_no_validation);
    TEST_SUMMARY("test_race");
}
