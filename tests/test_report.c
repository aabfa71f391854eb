/* The library's reports in words and JSON (what nflow eval and nflow train
 * print, and Python's Flow.fit): the figures they carry are the ones
 * computed (to the printed precision), null where one does not exist, the
 * length as snprintf's whatever the buffer, and the fit's figures over the
 * rows the documentation names. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "flow/flow.h"
#include "harness.h"
#include "nflow.h"

enum { ROWS = 300, DIM = 2 };

static float rows_x[ROWS * DIM];

static void fill_rows(void)
{
    unsigned s = 2024;
    for (int i = 0; i < ROWS * DIM; i++) {
        s = s * 1103515245u + 12345u;
        rows_x[i] = (float)((s >> 8) & 0xffff) / 65536.0f + (float)(i % DIM) * rows_x[i - (i % DIM)];
    }
}

static nf_flow *small_maf(void)
{
    nf_config cfg;
    nf_config_default(&cfg, NF_MODEL_MAF, DIM);
    cfg.layers = 2;
    cfg.hidden = 8;
    nf_flow *f = NULL;
    CHECK(nf_flow_create(&f, &cfg) == NF_OK, "%s", nf_last_error());
    return f;
}

/* The number after `key` in a JSON object (NaN: null or absent). */
static double json_value(const char *js, const char *key)
{
    char want[64];
    snprintf(want, sizeof want, "\"%s\": ", key);
    const char *at = strstr(js, want);
    if (!at || !strncmp(at + strlen(want), "null", 4))
        return NAN;
    return strtod(at + strlen(want), NULL);
}

static void test_eval_text(void)
{
    nf_flow *f = small_maf();
    nf_eval_report r;
    nf_eval_report_init(&r, sizeof r);
    CHECK(nf_flow_evaluate(f, rows_x, NULL, ROWS, NULL, &r) == NF_OK, "%s", nf_last_error());
    char text[1024], want[256], a[32], b[32], m[32];
    size_t len = nf_eval_report_text(f, &r, 0, text, sizeof text);
    CHECK(len == strlen(text) && len > 0 && text[len - 1] == '\n', "%zu: %s", len, text);
    snprintf(a, sizeof a, "%.4f", r.mean);
    snprintf(b, sizeof b, "%.4f", r.two_stderr);
    snprintf(m, sizeof m, "%.4f", r.median);
    snprintf(want, sizeof want, "mean log-likelihood: %s +- %s nats (n = %d), median %s\n", a, b, ROWS, m);
    CHECK(!strncmp(text, want, strlen(want)), "'%s' does not begin with '%s'", text, want);
    CHECK(!strstr(text, "outside") && !strstr(text, "bits per dimension"), "%s", text);
    /* the length whatever the buffer: none, or one too small */
    CHECK(nf_eval_report_text(f, &r, 0, NULL, 0) == len);
    char small[8];
    CHECK(nf_eval_report_text(f, &r, 0, small, sizeof small) == len && strlen(small) == sizeof small - 1);
    /* JSON: the figures in full precision */
    char js[1024];
    len = nf_eval_report_text(f, &r, NF_REPORT_JSON, js, sizeof js);
    CHECK(len == strlen(js) && js[0] == '{' && !strcmp(js + len - 2, "}\n"), "%s", js);
    CHECK(json_value(js, "mean_log_likelihood") == r.mean && json_value(js, "two_stderr") == r.two_stderr &&
          json_value(js, "median_log_likelihood") == r.median && json_value(js, "n") == ROWS, "%s", js);
    CHECK(strstr(js, "\"below_gaussian\": ") && !strstr(js, "outside_bounds"), "%s", js);
    /* one row: no standard error, in words and as null */
    CHECK(nf_flow_evaluate(f, rows_x, NULL, 1, NULL, &r) == NF_OK, "%s", nf_last_error());
    nf_eval_report_text(f, &r, 0, text, sizeof text);
    CHECK(strstr(text, "(n = 1: no standard error)") && !strstr(text, "nan"), "%s", text);
    nf_eval_report_text(f, &r, NF_REPORT_JSON, js, sizeof js);
    CHECK(strstr(js, "\"two_stderr\": null") && isfinite(json_value(js, "mean_log_likelihood")), "%s", js);
    CHECK(nf_eval_report_text(NULL, &r, 0, text, sizeof text) == 0 && text[0] == '\0');
    /* the public mean and standard error: the evaluation's own figures, bit for bit */
    double lp[ROWS], mean, two_se;
    CHECK(nf_flow_evaluate(f, rows_x, NULL, ROWS, lp, &r) == NF_OK, "%s", nf_last_error());
    nf_mean_two_stderr(lp, ROWS, &mean, &two_se);
    CHECK(mean == r.mean && two_se == r.two_stderr, "%.17g %.17g against %.17g %.17g", mean, two_se, r.mean,
          r.two_stderr);
    const double three[3] = {1, 2, 3};
    nf_mean_two_stderr(three, 3, &mean, &two_se);
    CHECK(mean == 2 && fabs(two_se - 2 / sqrt(3.0)) < 1e-15, "%g %g", mean, two_se);
    nf_mean_two_stderr(three, 1, &mean, &two_se);
    CHECK(mean == 1 && isnan(two_se));
    nf_mean_two_stderr(three, 0, &mean, NULL);
    CHECK(isnan(mean));
    nf_mean_two_stderr(NULL, 3, NULL, &two_se);
    CHECK(isnan(two_se));
    CHECK(nf_eval_report_text(f, NULL, 0, text, sizeof text) == 0 && text[0] == '\0');
    nf_flow_free(f);
}

/* The data split as nflow train splits it (10% validation, 10% test). */
static nf_data *split_data(double val_fraction)
{
    nf_data_options o;
    nf_data_options_default(&o);
    o.val_fraction = val_fraction;
    nf_data *d = NULL;
    CHECK(nf_data_from_arrays(&d, rows_x, NULL, ROWS, DIM, 0, NULL, NULL, 0, &o) == NF_OK, "%s", nf_last_error());
    return d;
}

static void test_fit_scores_and_report(void)
{
    nf_data *d = split_data(0.1);
    nf_flow *f = small_maf();
    nf_train_options opt;
    nf_train_options_default(&opt);
    opt.max_epochs = 2;
    opt.batch = 32;
    nf_train_result res;
    CHECK(nf_flow_fit(f, d, &opt, &res) == NF_OK, "%s", nf_last_error());
    nf_fit_scores s;
    nf_fit_scores_init(&s, sizeof s);
    CHECK(nf_flow_fit_scores(f, d, &opt, &s) == NF_OK, "%s", nf_last_error());
    size_t n_train = nf_data_rows(d, NF_PART_TRAIN, NULL, NULL), n_val = nf_data_rows(d, NF_PART_VAL, NULL, NULL);
    CHECK(s.train_scored == n_val && n_val == ROWS / 10, "%zu of %zu", s.train_scored, n_train);
    double mean, two_se;
    CHECK(nf_flow_mean_log_prob(f, d, NF_PART_VAL, 0, NULL, &mean, &two_se) == NF_OK);
    CHECK(s.val == mean && s.val_two_stderr == two_se, "%g %g", s.val, mean);
    CHECK(nf_flow_mean_log_prob(f, d, NF_PART_TEST, 0, NULL, &mean, &two_se) == NF_OK);
    CHECK(s.test == mean && s.test_two_stderr == two_se && isfinite(s.train) && isfinite(s.train_two_stderr));
    char text[1024], want[256], a[32], b[32], c[32], e[32];
    size_t len = nf_fit_report(f, d, &opt, &res, &s, 0, text, sizeof text);
    CHECK(len == strlen(text), "%s", text);
    snprintf(want, sizeof want, "maf: %zu parameters, %d epochs (best %d), ", nf_flow_param_count(f), res.epochs,
             res.best_epoch);
    CHECK(!strncmp(text, want, strlen(want)), "'%s' does not begin with '%s'", text, want);
    snprintf(a, sizeof a, "%.4f", s.train);
    snprintf(b, sizeof b, "%.4f", s.val);
    snprintf(c, sizeof c, "%.4f", s.test);
    snprintf(e, sizeof e, "%.4f", s.test_two_stderr);
    snprintf(want, sizeof want, "\nmean log-likelihood (nats): train %s (%zu of its %zu rows), validation %s, test %s +- %s\n",
             a, n_val, n_train, b, c, e);
    CHECK(strstr(text, want), "'%s' lacks '%s'", text, want);
    char js[4096];
    len = nf_fit_report(f, d, &opt, &res, &s, NF_REPORT_JSON, js, sizeof js);
    CHECK(len == strlen(js) && js[0] == '{' && !strcmp(js + len - 2, "}\n"), "%s", js);
    CHECK(json_value(js, "train_rows_scored") == (double)n_val && json_value(js, "n_train") == (double)n_train &&
          json_value(js, "epochs") == res.epochs, "%s", js);
    CHECK_CLOSE(json_value(js, "val_log_likelihood"), s.val, 0, 1e-9);
    CHECK_CLOSE(json_value(js, "test_two_stderr"), s.test_two_stderr, 0, 1e-9);
    CHECK(strstr(js, "\"model\": \"maf\"") && strstr(js, "\"config\": {\"model\": \"maf\"") &&
          !strstr(js, "\"race\""), "%s", js);
    CHECK(nf_fit_report(f, d, &opt, &res, &s, 0, NULL, 0) == strlen(text));
    /* a struct the library cannot have written: refused, nothing read */
    nf_fit_scores bad = s;
    bad.struct_size = 3;
    CHECK(nf_flow_fit_scores_sized(f, d, &opt, &bad, 3) == NF_ERR_INVALID && strstr(nf_last_error(), "nf_fit_scores"),
          "%s", nf_last_error());
    CHECK(nf_fit_report(f, d, &opt, &res, &bad, 0, text, sizeof text) == 0 && text[0] == '\0');
    nf_flow_free(f);
    nf_data_free(d);

    /* no validation rows: every training row scored, the validation figure missing in words and JSON */
    d = split_data(0);
    f = small_maf();
    CHECK(nf_flow_fit(f, d, &opt, &res) == NF_OK, "%s", nf_last_error());
    CHECK(nf_flow_fit_scores(f, d, &opt, &s) == NF_OK, "%s", nf_last_error());
    n_train = nf_data_rows(d, NF_PART_TRAIN, NULL, NULL);
    CHECK(s.train_scored == n_train && isnan(s.val) && isfinite(s.test), "%zu %g", s.train_scored, s.val);
    nf_fit_report(f, d, &opt, &res, &s, 0, text, sizeof text);
    CHECK(strstr(text, ", validation n/a, test ") && !strstr(text, " of its "), "%s", text);
    nf_fit_report(f, d, &opt, &res, &s, NF_REPORT_JSON, js, sizeof js);
    CHECK(strstr(js, "\"val_log_likelihood\": null"), "%s", js);
    nf_flow_free(f);
    nf_data_free(d);
}

/* val's fresh figures: every row's log-density by nf_flow_log_prob_given. */
static void fresh_val(nf_flow *f, const nf_data *d, double *mean, double *two_se)
{
    const float *x, *c;
    size_t n = nf_data_rows(d, NF_PART_VAL, &x, &c);
    double *lp = malloc(sizeof(double) * n);
    CHECK(lp && nf_flow_log_prob_given(f, x, c, n, lp) == NF_OK, "%s", nf_last_error());
    nf_mean_two_stderr(lp, n, mean, two_se);
    free(lp);
}

/* After training, the validation rows' figures are the kept pass's (the
 * best parameters'), the bits a fresh pass gives: for a trained best, an
 * untrained best, a conditional flow; and only while the flow and the rows
 * are those the pass saw. */
static void test_fit_scores_reuse_validation(void)
{
    float c[ROWS];
    for (int i = 0; i < ROWS; i++)
        c[i] = (float)(i % 7) - 3;
    for (int run = 0; run < 3; run++) {
        nf_data_options o;
        nf_data_options_default(&o);
        o.val_fraction = 0.2;
        nf_data *d = NULL;
        CHECK(nf_data_from_arrays(&d, rows_x, run == 2 ? c : NULL, ROWS, DIM, run == 2, NULL, NULL, 0, &o) == NF_OK,
              "%s", nf_last_error());
        nf_config cfg;
        nf_config_default(&cfg, NF_MODEL_MAF, DIM);
        cfg.layers = 2;
        cfg.hidden = 8;
        cfg.context_dim = run == 2;
        nf_flow *f = NULL;
        CHECK(nf_flow_create(&f, &cfg) == NF_OK, "%s", nf_last_error());
        nf_train_options opt;
        nf_train_options_default(&opt);
        opt.max_epochs = 3;
        opt.batch = 32;
        opt.lr = run == 1 ? 5.0 : 1e-3; /* 5: no epoch beats the untrained flow, whose pass is kept */
        nf_train_result res;
        CHECK(nf_flow_fit(f, d, &opt, &res) == NF_OK, "%s", nf_last_error());
        CHECK((run == 1) == (res.best_epoch == 0), "run %d: best epoch %d", run, res.best_epoch);
        CHECK(f->scored.log_prob && f->scored.rows == nf_data_rows(d, NF_PART_VAL, NULL, NULL), "run %d", run);
        nf_fit_scores s;
        nf_fit_scores_init(&s, sizeof s);
        CHECK(nf_flow_fit_scores(f, d, &opt, &s) == NF_OK, "%s", nf_last_error());
        double mean, two_se;
        fresh_val(f, d, &mean, &two_se);
        CHECK(s.val == mean && s.val_two_stderr == two_se, "run %d: kept %.17g %.17g, fresh %.17g %.17g", run, s.val,
              s.val_two_stderr, mean, two_se);
        CHECK(s.val == res.val_log_likelihood || fabs(s.val - res.val_log_likelihood) < 1e-12 * fabs(s.val),
              "%.17g %.17g", s.val, res.val_log_likelihood);
        /* the kept figures are what is read (a mark on one shows) ... */
        f->scored.log_prob[0] += 1;
        CHECK(nf_flow_mean_log_prob(f, d, NF_PART_VAL, 0, NULL, &mean, NULL) == NF_OK && mean != s.val);
        /* ... while the flow is unchanged: a parameter moved, a fresh pass */
        f->params[0] += 0.5f;
        fresh_val(f, d, &mean, &two_se);
        double now, now_se;
        CHECK(nf_flow_mean_log_prob(f, d, NF_PART_VAL, 0, NULL, &now, &now_se) == NF_OK);
        CHECK(now == mean && now_se == two_se && now != s.val, "%.17g %.17g %.17g", now, mean, s.val);
        f->params[0] -= 0.5f;
        /* and for these rows only: the training rows are scored afresh */
        const float *x, *cx;
        size_t n = nf_data_rows(d, NF_PART_TRAIN, &x, &cx);
        double *lp = malloc(sizeof(double) * n);
        CHECK(lp && nf_flow_log_prob_given(f, x, cx, n, lp) == NF_OK);
        nf_mean_two_stderr(lp, n, &mean, &two_se);
        CHECK(nf_flow_mean_log_prob(f, d, NF_PART_TRAIN, 0, NULL, &now, &now_se) == NF_OK);
        CHECK(now == mean && now_se == two_se);
        free(lp);
        nf_flow_free(f);
        nf_data_free(d);
    }
}

/* The warning after training: none when an epoch validated above the
 * start; when none did (a learning rate far too high), the library's
 * words, naming the Gaussian fit the start was; none without validation
 * rows, where nothing was compared. */
static void test_fit_warning(void)
{
    char text[256];
    for (int run = 0; run < 3; run++) {
        nf_data *d = split_data(run == 2 ? 0 : 0.1);
        nf_flow *f = small_maf();
        nf_train_options opt;
        nf_train_options_default(&opt);
        opt.max_epochs = 3;
        opt.batch = 32;
        opt.lr = run == 0 ? 1e-3 : 5.0; /* 5: every step far off */
        nf_train_result res;
        CHECK(nf_flow_fit(f, d, &opt, &res) == NF_OK, "%s", nf_last_error());
        size_t len = nf_fit_warning(f, d, &res, text, sizeof text);
        CHECK(len == strlen(text) && nf_fit_warning(f, d, &res, NULL, 0) == len);
        if (run == 1)
            CHECK(res.best_epoch == 0 && strstr(text, "no epoch validated above the untrained model (the Gaussian "
                                                      "fit), which is what is saved"),
                  "best %d: '%s'", res.best_epoch, text);
        else
            CHECK(res.best_epoch > 0 && len == 0, "run %d, best %d: '%s'", run, res.best_epoch, text);
        nf_flow_free(f);
        nf_data_free(d);
    }
    CHECK(nf_fit_warning(NULL, NULL, NULL, text, sizeof text) == 0 && text[0] == '\0');
}

/* The data's warning: x columns of whole numbers, named as the file
 * counts them, unless dequantised (the note then says so); none for a
 * context column of whole numbers (a label) or for real-valued data. */
static void test_data_warning(void)
{
    static float rows[ROWS * 3];
    for (int i = 0; i < ROWS; i++) {
        rows[3 * i] = rows_x[DIM * i];
        rows[3 * i + 1] = (float)(i % 7);     /* whole numbers */
        rows[3 * i + 2] = (float)(i % 3 == 0); /* whole numbers too */
    }
    char text[512];
    for (int run = 0; run < 4; run++) {
        nf_data_options o;
        nf_data_options_default(&o);
        o.dequantize = run == 1;
        int nc = run == 2 ? 1 : 0; /* the last column the context */
        nf_data *d = NULL;
        const float *x = run == 3 ? rows_x : rows;
        if (nc) { /* x and context apart */
            static float xs[ROWS * 2], cs[ROWS];
            for (int i = 0; i < ROWS; i++)
                xs[2 * i] = rows[3 * i], xs[2 * i + 1] = rows[3 * i + 1], cs[i] = rows[3 * i + 2];
            CHECK(nf_data_from_arrays(&d, xs, cs, ROWS, 2, 1, NULL, NULL, 0, &o) == NF_OK, "%s", nf_last_error());
        } else {
            CHECK(nf_data_from_arrays(&d, x, NULL, ROWS, run == 3 ? DIM : 3, 0, NULL, NULL, 0, &o) == NF_OK, "%s",
                  nf_last_error());
        }
        size_t len = nf_data_warning(d, text, sizeof text);
        CHECK(len == strlen(text) && nf_data_warning(d, NULL, 0) == len);
        const char *want = run == 0 ? "2 of 3 columns hold only whole numbers (1, 2): a flow can raise its "
                                      "likelihood without limit by narrowing onto them"
                         : run == 2 ? "1 of 2 x columns hold only whole numbers (1): "
                                    : "";
        CHECK(*want ? strstr(text, want) == text : len == 0, "run %d: '%s'", run, text);
        /* the note says what was done instead: the dequantised run alone */
        char note[256];
        len = nf_data_note(d, note, sizeof note);
        CHECK(len == strlen(note) && nf_data_note(d, NULL, 0) == len);
        CHECK(run == 1 ? !strcmp(note, "dequantised 2 integer-valued columns of 3 (U[0,1) noise)") : len == 0,
              "run %d: '%s'", run, note);
        nf_data_free(d);
    }
}

/* The warnings of an evaluation (rows outside the bounds, rows at -inf),
 * a line each with the figures of the report, none for a clean one; the
 * samples' warning past 1 in 1,000 far from the training data's range. */
static void test_eval_and_sample_warnings(void)
{
    nf_eval_report r;
    nf_eval_report_init(&r, sizeof r);
    r.rows = 40;
    char text[1024];
    CHECK(nf_eval_warnings(&r, NULL, text, sizeof text) == 0 && text[0] == '\0', "clean: '%s'", text);
    r.outside = 3, r.first_outside_row = 7, r.first_outside_column = 1, r.first_outside_value = -2.5;
    r.first_outside_lo = 0, r.first_outside_hi = 1;
    size_t len = nf_eval_warnings(&r, NULL, text, sizeof text);
    CHECK(len == strlen(text) && nf_eval_warnings(&r, NULL, NULL, 0) == len, "%zu", len);
    CHECK(strstr(text, "3 of 40 rows lie on or outside the model's bounds (the first: row 7 (0-based), column 1 = "
                       "-2.5, bounds (0, 1))") == text && strchr(text, '\n') == text + len - 1, "'%s'", text);
    r.no_density = 2, r.first_no_density = 11;
    len = nf_eval_warnings(&r, NULL, text, sizeof text);
    const char *second = strchr(text, '\n') + 1;
    CHECK(strstr(second, "2 of 40 rows have log-density -inf (row 11, counting from 0, is the first)") == second &&
              text[len - 1] == '\n', "'%s'", text);
    CHECK(nf_eval_warnings(NULL, NULL, text, sizeof text) == 0);
    /* with the data: the column named as the file counts it (--columns 2,1 makes x column 1 the file's 1) */
    char path[] = "/tmp/nflow_warnings_XXXXXX";
    int fd = mkstemp(path);
    FILE *fp = fd >= 0 ? fdopen(fd, "w") : NULL;
    CHECK(fp != NULL, "temporary file");
    if (fp) {
        for (int i = 0; i < 20; i++)
            fprintf(fp, "%d,%g,%g\n", i, 0.1 * i, 1.0 / (i + 1));
        fclose(fp);
        nf_data_options o;
        nf_data_options_default(&o);
        o.columns = "2,1";
        o.val_fraction = o.test_fraction = 0;
        nf_data *d = NULL;
        CHECK(nf_data_read(&d, path, NULL, NULL, &o) == NF_OK, "%s", nf_last_error());
        r.no_density = 0;
        text[0] = '\0';
        CHECK(d && nf_eval_warnings(&r, d, text, sizeof text) > 0 &&
                  strstr(text, "row 7 (0-based), column 1 = -2.5") && nf_data_file_column(d, 0) == 2, "'%s'", text);
        r.first_outside_column = 0;
        CHECK(d && nf_eval_warnings(&r, d, text, sizeof text) > 0 && strstr(text, "row 7 (0-based), column 2 = -2.5"),
              "'%s'", text);
        nf_data_free(d);
        remove(path);
    }

    nf_flow *f = small_maf();
    CHECK(nf_flow_fit_standardization(f, rows_x, ROWS) == NF_OK, "%s", nf_last_error()); /* the data's range */
    enum { N = 2000 };
    static float x[N * DIM];
    CHECK(nf_flow_sample(f, N, 3, x, NULL) == NF_OK, "%s", nf_last_error());
    size_t far = nf_flow_count_far_from_data(f, x, N);
    CHECK(far * 1000 <= N && nf_sample_warning(f, x, N, text, sizeof text) == 0, "%zu far: '%s'", far, text);
    for (int i = 0; i < N * DIM; i++) /* inside the data's range, but for 3 rows in 2,000: past 1 in 1,000 */
        x[i] = 0.5f;
    for (int i = 0; i < 3; i++)
        x[(100 * i + 5) * DIM] = 1e6f;
    len = nf_sample_warning(f, x, N, text, sizeof text);
    CHECK(len == strlen(text) && strstr(text, "3 of 2000 samples lie beyond the training data's range") == text &&
              !strchr(text, '\n'), "'%s'", text);
    CHECK(nf_sample_warning(f, x, 2, text, sizeof text) == 0, "two rows inside: '%s'", text);
    CHECK(nf_sample_warning(f, x + 5 * DIM, 1, text, sizeof text) > 0 && strstr(text, "1 of 1 samples") == text);
    CHECK(nf_sample_warning(NULL, x, N, text, sizeof text) == 0);
    nf_flow_free(f);
}

int main(void)
{
    fill_rows();
    RUN(test_eval_text);
    RUN(test_eval_and_sample_warnings);
    RUN(test_fit_scores_and_report);
    RUN(test_fit_scores_reuse_validation);
    RUN(test_fit_warning);
    RUN(test_data_warning);
    TEST_SUMMARY("test_report");
}
