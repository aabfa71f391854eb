/* What `nflow train` and Python's Flow.fit report after training: the
 * figures (nf_flow_fit_scores) and the report in words or JSON. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "core/error.h"
#include "core/sized.h"
#include "core/text.h"
#include "train/api_evaluate.h"

#define FIT_SCORES_SIZE_1 SIZED_END(nf_fit_scores, test_two_stderr)

void nf_fit_scores_init(nf_fit_scores *caller, size_t struct_size)
{
    nf_fit_scores s = {.struct_size = sizeof s, .train = NAN, .train_two_stderr = NAN, .val = NAN,
                       .val_two_stderr = NAN, .test = NAN, .test_two_stderr = NAN};
    sized_write(caller, struct_size, &s, sizeof s);
}

nf_status nf_flow_fit_scores_sized(nf_flow *f, const nf_data *d, const nf_train_options *opt, nf_fit_scores *caller,
                                   size_t struct_size)
{
    nf_fit_scores s;
    nf_status st = sized_check_size(struct_size, sizeof s, FIT_SCORES_SIZE_1, "nf_fit_scores");
    if (st)
        return st;
    if (!f || !d || !caller)
        return nf_fail(NF_ERR_INVALID, "nf_flow_fit_scores: NULL argument");
    nf_fit_scores_init(&s, sizeof s);
    size_t n_train = nf_data_rows(d, NF_PART_TRAIN, NULL, NULL), n_val = nf_data_rows(d, NF_PART_VAL, NULL, NULL);
    size_t n_test = nf_data_rows(d, NF_PART_TEST, NULL, NULL);
    s.train_scored = n_val && n_val < n_train ? n_val : n_train;
    if ((st = nf_flow_mean_log_prob(f, d, NF_PART_TRAIN, s.train_scored, opt, &s.train, &s.train_two_stderr)) ||
        (n_val && (st = nf_flow_mean_log_prob(f, d, NF_PART_VAL, 0, opt, &s.val, &s.val_two_stderr))) ||
        (n_test && (!opt || opt->rank == 0) &&
         (st = nf_flow_mean_log_prob(f, d, NF_PART_TEST, 0, NULL, &s.test, &s.test_two_stderr))))
        return nf_fail(st, "evaluating: %s", nf_last_error());
    sized_write(caller, struct_size, &s, sizeof s);
    return NF_OK;
}

/* "race", first in the object: a script that finds a top-level field by
 * the last match of its name ("model", "epochs") still finds it. */
static void json_race(text *t, const nf_flow *f)
{
    int n = nf_flow_race_count(f);
    if (!n)
        return;
    text_add(t, "\"race\": [");
    for (int i = 0; i < n; i++) {
        nf_race_entry e;
        nf_race_entry_init(&e, sizeof e);
        if (nf_flow_race_entry(f, i, &e))
            continue;
        text_add(t, "%s{\"model\": \"%s\", \"dropout\": %g, \"layers\": %d, \"hidden\": %d, \"epochs\": %d, "
                    "\"best_epoch\": %d, \"round\": %d, \"seconds\": %.3f", i ? ", " : "", e.model, e.dropout,
                 e.layers, e.hidden, e.epochs, e.best_epoch, e.round, e.seconds);
        text_json_number(t, "val_log_likelihood", e.val_log_likelihood);
        text_add(t, "}");
    }
    text_add(t, "], ");
}

static void json_report(text *t, const nf_flow *f, const nf_data *d, const nf_train_options *opt,
                        const nf_train_result *res, const nf_fit_scores *s)
{
    text_add(t, "{");
    json_race(t, f);
    text_add(t, "\"model\": \"%s\", \"dim\": %d, \"context_dim\": %d, \"params\": %zu, \"epochs\": %d, "
                "\"best_epoch\": %d, \"n_train\": %zu, \"n_val\": %zu, \"n_test\": %zu, \"seconds\": %.3f",
             model_kind(f), nf_data_dim(d), nf_data_context_dim(d), nf_flow_param_count(f), res->epochs,
             res->best_epoch, nf_data_rows(d, NF_PART_TRAIN, NULL, NULL), nf_data_rows(d, NF_PART_VAL, NULL, NULL),
             nf_data_rows(d, NF_PART_TEST, NULL, NULL), res->seconds);
    char config[1024]; /* what the run was built and trained with (the model's own for a resumed run) */
    nf_flow_config_json(f, opt, config, sizeof config);
    text_add(t, ", \"config\": %s", config);
    if (nf_flow_label_classes(f))
        text_add(t, ", \"label_classes\": %d", nf_flow_label_classes(f));
    text_json_number(t, "train_log_likelihood", s->train);
    text_add(t, ", \"train_rows_scored\": %zu", s->train_scored);
    text_json_number(t, "val_log_likelihood", s->val);
    text_json_number(t, "test_log_likelihood", s->test);
    text_json_number(t, "test_two_stderr", s->test_two_stderr);
    if (nf_flow_image_shape(f, NULL)) { /* the papers' figure for images */
        text_json_number(t, "val_bits_per_dim", nf_flow_bits_per_dim(f, s->val));
        text_json_number(t, "test_bits_per_dim", nf_flow_bits_per_dim(f, s->test));
    }
    struct rusage ru; /* the peak resident memory so far (Linux: KiB) */
    text_add(t, ", \"max_rss_mib\": %.1f}\n", getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss / 1024.0 : -1.0);
}

static void words_report(text *t, const nf_flow *f, const nf_data *d, const nf_train_result *res,
                         const nf_fit_scores *s)
{
    const char *model = model_kind(f);
    char given[64] = "";
    int nc = nf_data_context_dim(d), classes = nf_flow_label_classes(f);
    if (classes)
        snprintf(given, sizeof given, "; p(x | class): %d classes", classes);
    else if (nc)
        snprintf(given, sizeof given, "; p(x | c): %d context column%s", nc, nc == 1 ? "" : "s");
    if (!strcmp(model, "gmm")) /* fitted by EM: its values are not gradient-trained parameters */
        text_add(t, "%s: EM, %d iterations, %.1f s\n", model, res->epochs, res->seconds);
    else
        text_add(t, "%s: %zu parameters, %d epochs (best %d), %.1f s%s\n", model, nf_flow_param_count(f),
                 res->epochs, res->best_epoch, res->seconds, given);
    char v[32], te[96], a[32], b[32], tr[32], of[64] = ""; /* no nan as a result: say what is missing */
    snprintf(v, sizeof v, "%s", isfinite(s->val) ? text_nats(s->val, a, sizeof a) : "n/a");
    if (isfinite(s->test_two_stderr))
        snprintf(te, sizeof te, "%s +- %s", text_nats(s->test, a, sizeof a), text_nats(s->test_two_stderr, b, sizeof b));
    else if (isfinite(s->test))
        snprintf(te, sizeof te, "%s (one row: no standard error)", text_nats(s->test, a, sizeof a));
    else
        snprintf(te, sizeof te, "n/a");
    size_t n_train = nf_data_rows(d, NF_PART_TRAIN, NULL, NULL);
    if (s->train_scored < n_train)
        snprintf(of, sizeof of, " (%zu of its %zu rows)", s->train_scored, n_train);
    text_add(t, "mean log-likelihood (nats): train %s%s, validation %s, test %s\n", text_nats(s->train, tr, sizeof tr),
             of, v, te);
    if (nf_flow_image_shape(f, NULL))
        text_add(t, "bits per dimension (8-bit images): train %.4f, validation %.4f, test %.4f\n",
                 nf_flow_bits_per_dim(f, s->train), nf_flow_bits_per_dim(f, s->val), nf_flow_bits_per_dim(f, s->test));
}

size_t nf_fit_report(const nf_flow *f, const nf_data *d, const nf_train_options *opt, const nf_train_result *res,
                     const nf_fit_scores *s, int flags, char *buf, size_t size)
{
    text t;
    text_init(&t, buf, size);
    if (!f || !d || !res || !s || s->struct_size < FIT_SCORES_SIZE_1)
        return 0;
    if (flags & NF_REPORT_JSON)
        json_report(&t, f, d, opt, res, s);
    else
        words_report(&t, f, d, res, s);
    return t.len;
}

size_t nf_fit_warning(const nf_flow *f, const nf_data *d, const nf_train_result *res, char *buf, size_t size)
{
    text o;
    text_init(&o, buf, size);
    nf_config c;
    nf_config_default(&c, NF_MODEL_MAF, 1);
    if (f && d && res && nf_data_rows(d, NF_PART_VAL, NULL, NULL) && res->epochs > 0 && res->best_epoch == 0)
        text_add(&o, "no epoch validated above the untrained model%s, which is what is saved; a lower learning "
                     "rate, or more rows, may do better",
                 nf_flow_get_config(f, &c) == NF_OK && c.whiten ? " (the Gaussian fit)" : "");
    return o.len;
}
