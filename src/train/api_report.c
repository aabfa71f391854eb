/* What the recipe chose, what the race found and what an evaluation
 * found, in words: the lines `nflow train`, `nflow eval` and Python print
 * alike. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "core/text.h"
#include "train/api_evaluate.h"

size_t nf_recipe_summary(const nf_data *d, const nf_config *cfg, const nf_train_options *opt, int race, char *buf,
                         size_t size)
{
    text t;
    text_init(&t, buf, size);
    if (!d || !cfg || !opt) {
        text_add(&t, "(no data)");
        return t.len;
    }
    size_t n_train = nf_data_rows(d, NF_PART_TRAIN, NULL, NULL), n_val = nf_data_rows(d, NF_PART_VAL, NULL, NULL);
    int dim = nf_data_dim(d), nc = nf_data_context_dim(d);
    const char *model = nf_model_name(cfg->model), *of_x = nc ? " of x" : "";
    if (race)
        text_add(&t, "auto: a race among %s for %zu rows x %d columns%s, batch %d, dropout %g; the better "
                                "half kept each round, the last one trained on",
                     !n_val ? "none (no validation rows): the data's default model"
                     : nc || dim > 32 || n_train > 200000 ? "maf-mog, maf, nsf-ar and made-mog"
                                                          : "maf-mog, maf, nsf-ar, made-mog and gmm",
                     n_train, dim, of_x, opt->batch, opt->dropout);
    else if (cfg->model == NF_MODEL_GAUSSIAN)
        text_add(&t, "gaussian fit of %zu rows x %d columns", n_train, dim);
    else if (cfg->model == NF_MODEL_GMM)
        text_add(&t, "gmm: a mixture of full-covariance Gaussians fitted by EM to %zu rows x %d columns, %s",
                     n_train, dim, cfg->components ? "the components given"
                                                   : "1 to 64 components, chosen on the validation rows");
    else if (cfg->model == NF_MODEL_GLOW || cfg->model == NF_MODEL_REALNVP_MS)
        text_add(&t, "%s, %d levels of %d steps, networks of %d channels and %d residual block%s, batch %d "
                                "(%zu images of %d x %d x %d; the options override)",
                     model, cfg->levels, cfg->layers, cfg->hidden, cfg->hidden_layers,
                     cfg->hidden_layers == 1 ? "" : "s", opt->batch, n_train, cfg->image_shape[0],
                     cfg->image_shape[1], cfg->image_shape[2]);
    else
        text_add(&t, "%s, %d layers of %d x %d units, batch %d, dropout %g%s (chosen for %zu rows x %d "
                                "columns%s; the options override)",
                     model, cfg->layers, cfg->hidden_layers, cfg->hidden, opt->batch, opt->dropout,
                     cfg->whiten ? ", from the Gaussian fit" : "", n_train, dim, of_x);
    return t.len;
}

size_t nf_flow_race_table(const nf_flow *f, char *buf, size_t size)
{
    text t;
    text_init(&t, buf, size);
    int n = f ? nf_flow_race_count(f) : 0;
    for (int pass = 0; pass < 2; pass++) /* the winner last */
        for (int i = 0; i < n; i++) {
            nf_race_entry e;
            nf_race_entry_init(&e, sizeof e);
            if (nf_flow_race_entry(f, i, &e) || (e.round == 0) != pass)
                continue;
            char dropped[32] = "the winner", line[192];
            if (e.round)
                snprintf(dropped, sizeof dropped, "out after round %d", e.round);
            if (!strcmp(e.model, "gmm")) /* hidden: its components; epochs: its EM iterations */
                snprintf(line, sizeof line, "  %-9s %2d components        val %10.4f  (%d EM iterations)       "
                                            "%6.1fs  %s\n", e.model, e.hidden, e.val_log_likelihood, e.epochs,
                         e.seconds, dropped);
            else
                snprintf(line, sizeof line, "  %-9s dropout %-4g %d x %-4d  val %10.4f  (best epoch %d of %d)  "
                                            "%6.1fs  %s\n", e.model, e.dropout, e.layers, e.hidden,
                         e.val_log_likelihood, e.best_epoch, e.epochs, e.seconds, dropped);
            text_add(&t, "%s", line);
        }
    return t.len;
}

size_t nf_flow_config_json(const nf_flow *f, const nf_train_options *opt, char *buf, size_t size)
{
    text t;
    text_init(&t, buf, size);
    nf_config c;
    nf_config_default(&c, NF_MODEL_MAF, 1);
    nf_train_options defaults;
    nf_train_options_default(&defaults);
    const nf_train_options *o = opt ? opt : &defaults;
    if (!f || nf_flow_get_config(f, &c) != NF_OK) {
        text_add(&t, "null");
        return t.len;
    }
    static const char *const acts[] = {"relu", "tanh"}, *const parts[] = {"halves", "even_odd", "mask"},
                             *const orders[] = {"natural", "reversed", "random"};
    text_add(&t,
                     "{\"model\": \"%s\", \"layers\": %d, \"hidden\": %d, \"hidden_layers\": %d, "
                     "\"activation\": \"%s\", \"partition\": \"%s\", \"order\": \"%s\", \"random_degrees\": %d, "
                     "\"batch_norm\": %d, \"actnorm\": %d, \"components\": %d, \"bins\": %d, \"tail_bound\": %g, "
                     "\"log_scale_bound\": %g, \"whiten\": %d, \"tail_weight\": %g, \"context_dim\": %d, "
                     "\"seed\": %llu, \"batch\": %d, \"lr\": %g, \"lr_decay\": %g, \"weight_decay\": %g, "
                     "\"clip\": %g, \"dropout\": %g, \"epochs\": %d, \"patience\": %d, \"patience_steps\": %d, "
                     "\"levels\": %d, \"image_shape\": [%d, %d, %d]}",
                     nf_model_name(c.model), c.layers, c.hidden, c.hidden_layers, acts[c.activation & 1],
                     parts[(unsigned)c.partition < 3 ? c.partition : 0], orders[(unsigned)c.order < 3 ? c.order : 0],
                     c.random_degrees, c.batch_norm, c.actnorm, c.components, c.bins, c.tail_bound,
                     c.log_scale_bound, c.whiten, c.tail_weight, c.context_dim, (unsigned long long)c.seed, o->batch,
                     o->lr, o->lr_decay, o->weight_decay, o->clip_norm, o->dropout, o->max_epochs, o->patience,
                     o->patience_steps, c.levels, c.image_shape[0], c.image_shape[1], c.image_shape[2]);
    return t.len;
}

size_t nf_eval_report_text(const nf_flow *f, const nf_eval_report *r, int flags, char *buf, size_t size)
{
    text t;
    text_init(&t, buf, size);
    if (!f || !r)
        return 0;
    char a[32], b[32], c[32], inf[64] = "";
    int shape[3], image = nf_flow_image_shape(f, shape), bounded = nf_flow_get_bounds(f, NULL, NULL);
    double mean = r->mean, two_se = r->two_stderr;
    if (flags & NF_REPORT_JSON) {
        text_add(&t, "{\"mean_log_likelihood\": ");
        text_add(&t, isfinite(mean) ? "%.17g" : "null", mean);
        text_add(&t, ", \"two_stderr\": ");
        text_add(&t, isfinite(mean) && isfinite(two_se) ? "%.17g" : "null", two_se); /* one row: none */
        text_add(&t, ", \"median_log_likelihood\": ");
        text_add(&t, isfinite(r->median) ? "%.17g" : "null", r->median);
        text_add(&t, ", \"n\": %zu, \"below_gaussian\": ", r->rows);
        text_add(&t, r->below_gaussian < 0 ? "null" : "%ld", r->below_gaussian);
        if (image) { /* the papers' figure for images */
            text_json_number(&t, "bits_per_dim", nf_flow_bits_per_dim(f, mean));
            text_json_number(&t, "bits_per_dim_two_stderr", nf_flow_bits_per_dim(f, -two_se));
        }
        if (bounded) {
            text_add(&t, ", \"outside_bounds\": %zu, \"mean_log_likelihood_inside\": ", r->outside);
            text_add(&t, r->outside && isfinite(r->mean_inside) ? "%.17g" : "null", r->mean_inside);
        }
        text_add(&t, "}\n");
        return t.len;
    }
    if (r->no_density)
        snprintf(inf, sizeof inf, "; %zu at -inf", r->no_density);
    if (r->outside) /* the mean is -inf */
        text_add(&t, "mean log-likelihood: %s nats (n = %zu, %zu outside the bounds%s), median %s\n",
                 text_nats(mean, a, sizeof a), r->rows, r->outside, inf, text_nats(r->median, c, sizeof c));
    else if (isfinite(two_se))
        text_add(&t, "mean log-likelihood: %s +- %s nats (n = %zu), median %s\n", text_nats(mean, a, sizeof a),
                 text_nats(two_se, b, sizeof b), r->rows, text_nats(r->median, c, sizeof c));
    else
        text_add(&t, "mean log-likelihood: %s nats (n = %zu%s%s), median %s\n", text_nats(mean, a, sizeof a), r->rows,
                 r->rows == 1 ? ": no standard error" : "", inf, text_nats(r->median, c, sizeof c));
    if (image && isfinite(two_se))
        text_add(&t, "bits per dimension: %.4f +- %.4f (8-bit images of %d x %d x %d)\n",
                 nf_flow_bits_per_dim(f, mean), nf_flow_bits_per_dim(f, -two_se), shape[0], shape[1], shape[2]);
    else if (image)
        text_add(&t, "bits per dimension: %.4f (8-bit images of %d x %d x %d)\n", nf_flow_bits_per_dim(f, mean),
                 shape[0], shape[1], shape[2]);
    if (r->below_gaussian >= 0)
        text_add(&t, "rows below the model's %s: %ld of %zu\n",
                 image ? "floor (N(0, I) of the standardised logits)" : "Gaussian fit", r->below_gaussian, r->rows);
    if (r->outside && isfinite(r->two_stderr_inside))
        text_add(&t, "rows outside the model's bounds: %zu of %zu (log-density -inf); mean log-likelihood of the %zu "
                     "inside: %.4f +- %.4f nats\n", r->outside, r->rows, r->rows - r->outside, r->mean_inside,
                 r->two_stderr_inside);
    else if (r->outside)
        text_add(&t, "rows outside the model's bounds: %zu of %zu (log-density -inf)\n", r->outside, r->rows);
    return t.len;
}

size_t nf_eval_warnings(const nf_eval_report *r, const nf_data *d, char *buf, size_t size)
{
    text t;
    text_init(&t, buf, size);
    if (!r)
        return 0;
    if (r->outside) /* density 0 there: the mean over the rows inside is reported beside */
        text_add(&t, "%zu of %zu rows lie on or outside the model's bounds (the first: row %zu (0-based), column %zu = "
                     "%.9g, bounds (%g, %g)): the model's density there is 0, its log-density -inf\n",
                 r->outside, r->rows, r->first_outside_row,
                 d ? nf_data_file_column(d, r->first_outside_column) : (size_t)r->first_outside_column,
                 r->first_outside_value, r->first_outside_lo, r->first_outside_hi);
    if (r->no_density) /* inside the bounds: none of the model's density, or beyond its arithmetic */
        text_add(&t, "%zu of %zu rows have log-density -inf (row %zu, counting from 0, is the first): the model gives "
                     "them no density, or their values overflow its arithmetic\n",
                 r->no_density, r->rows, r->first_no_density);
    return t.len;
}

size_t nf_sample_warning(const nf_flow *f, const float *x, size_t rows, char *buf, size_t size)
{
    text t;
    text_init(&t, buf, size);
    size_t far = f && x ? nf_flow_count_far_from_data(f, x, rows) : 0;
    /* more than 1 in 1,000: a heavy-tailed model may throw the odd one legitimately (a BSDS300 MAF MoG threw 6) */
    if (far * 1000 > rows)
        text_add(&t, "%zu of %zu samples lie beyond the training data's range by more than the range itself: the "
                     "model's sampling pass amplified rare draws there, where its density is no guide",
                 far, rows);
    return t.len;
}

size_t nf_kl_report_text(const nf_flow *f, const nf_kl_progress *p, const char *target_name, int batch, int flags,
                         char *buf, size_t size)
{
    text o;
    text_init(&o, buf, size);
    if (!f || !p)
        return 0;
    const char *target = target_name ? target_name : "the target", *model = model_kind(f);
    if (flags & NF_REPORT_JSON) {
        text_add(&o, "{\"target\": ");
        text_json_string(&o, target);
        text_add(&o, ", \"model\": \"%s\", \"params\": %zu, \"steps\": %d, \"batch\": %d", model,
                 nf_flow_param_count(f), p->step, batch);
        text_json_number(&o, "kl", p->kl);
        text_json_number(&o, "kl_stderr", p->kl_stderr);
        text_json_number(&o, "cross_entropy", p->cross_entropy);
        text_json_number(&o, "entropy", p->entropy);
        text_add(&o, ", \"seconds\": %.3f}\n", p->seconds);
        return o.len;
    }
    text_add(&o, "%s on %s: %zu parameters, %d steps, %.1f s\n", model, target, nf_flow_param_count(f), p->step,
             p->seconds);
    text_add(&o, "final batch: KL %.4f +- %.4f (up to log Z), cross-entropy %.4f, entropy %.4f\n", p->kl, p->kl_stderr,
             p->cross_entropy, p->entropy);
    return o.len;
}
