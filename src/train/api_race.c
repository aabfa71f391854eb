/* The race among models (nf_flow_fit_auto): candidates trained side by
 * side, the worse half dropped each round (successive halving), the last
 * one trained on, and then weighed against a Gaussian mixture fitted by
 * EM before the rounds. A fixed rule picked one model for all data; the
 * best model varied from set to set (issue 30's table), and a race of a
 * few candidates costs a small multiple of one training. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/error.h"
#include "core/sized.h"
#include "data/api_prepare.h"
#include "train/api_gmm.h"
#include "train/api_train.h"

/* The candidates trained side by side: MAF MoG (the old default), MAF
 * (better on some wide sets), the spline MAF (best on some low-dimensional sets) and a single
 * MADE MoG (best on some small sets of small integers), all at the
 * caller's dropout. Not dropout itself: a rate that wins in the end learns
 * slower at first, and an early round dropped it (fashion196: MAF MoG at
 * 0.2 ended 110 nats above the same at 0, which led after 6 epochs). */
static const nf_model candidates[] = {NF_MODEL_MAF_MOG, NF_MODEL_MAF, NF_MODEL_NSF_AR, NF_MODEL_MADE_MOG};
enum { N_CANDIDATES = sizeof candidates / sizeof candidates[0] };
enum { FIRST_ROUND_STEPS = 500 }; /* each candidate's training before the first cut */
/* The Gaussian mixture (EM, fitted once before the rounds) joins the race
 * of unconditional data up to this many columns: its cost grows as the
 * square of them (a 63-column set of 20,000 rows: longer than the flows'
 * training), and beyond 16 columns it won nowhere (bench/RESULTS.md). */
enum { GMM_MAX_DIM = 32 };
/* ... and up to this many training rows: its responsibilities take rows x
 * 64 doubles (100 MB here), and with so many rows the flows have what
 * they need to win (the gmm won only on sets of up to 20,000). */
enum { GMM_MAX_ROWS = 200000 };

typedef struct runner {
    nf_flow *f;
    train_run *run;
    nf_race_entry e;
    int over;      /* trains no more (patience spent, or halted) */
    int alive;
    double seconds;
} runner;


void nf_race_entry_init(nf_race_entry *e, size_t struct_size)
{
    nf_race_entry full;
    memset(&full, 0, sizeof full);
    full.val_log_likelihood = -INFINITY;
    sized_write(e, struct_size, &full, sizeof full);
}

int nf_flow_race_count(const nf_flow *f) { return f ? f->record.race_count : 0; }

nf_status nf_flow_race_entry_sized(const nf_flow *f, int i, nf_race_entry *e, size_t struct_size)
{
    nf_status st = sized_check_size(struct_size, sizeof *e, SIZED_END(nf_race_entry, seconds), "nf_race_entry");
    if (st)
        return st;
    if (!f || i < 0 || i >= f->record.race_count)
        return nf_fail(NF_ERR_INVALID, "race entry %d of %d", i, f ? f->record.race_count : 0);
    sized_write(e, struct_size, &f->record.race[i], sizeof *e);
    return NF_OK;
}

/* Better: a higher best validation log-likelihood; ties to the earlier candidate. */
static int better(const runner *a, const runner *b) { return a->e.val_log_likelihood > b->e.val_log_likelihood; }

static void refresh(runner *c)
{
    int64_t epochs, best_epoch;
    double best;
    train_run_status(c->run, &epochs, &best_epoch, &best, NULL);
    c->e.epochs = (int)epochs;
    c->e.best_epoch = (int)best_epoch;
    c->e.val_log_likelihood = best;
}

/* Trains every survivor one more epoch at a time up to `epochs`, so that a
 * time limit met in the middle leaves them at the same epoch. *end: the
 * race must end now (stopped, or out of time). */
static nf_status race_round(runner *c, int n, int64_t epochs, double deadline, const nf_train_options *o, int *end)
{
    *end = 0;
    for (int64_t e = 1; e <= epochs; e++) {
        double late = deadline > 0 && clock_seconds() >= deadline;
        if (o->ranks > 1 && o->reduce && o->reduce(&late, 1, 1, o->reduce_user)) /* the clocks differ: agree */
            return nf_fail(NF_ERR_IO, "the race: the processes could not agree on the time");
        if (late > 0 || (o->stop && *o->stop)) {
            *end = 1;
            return NF_OK;
        }
        for (int k = 0; k < n; k++) {
            if (!c[k].alive || c[k].over)
                continue;
            double t0 = clock_seconds();
            nf_status st = train_run_until(c[k].run, e, &c[k].over);
            c[k].seconds += clock_seconds() - t0;
            refresh(&c[k]);
            int stopped;
            train_run_status(c[k].run, NULL, NULL, NULL, &stopped);
            if (st && st != NF_ERR_NONFINITE)
                return st; /* a candidate whose loss diverged keeps its best epoch and trains no more */
            if (stopped) {
                *end = 1;
                return NF_OK;
            }
        }
    }
    return NF_OK;
}

/* Keeps the better ceil(alive / 2) of the survivors; the others leave after `round`. */
static void cut(runner *c, int n, int round)
{
    int alive = 0;
    for (int k = 0; k < n; k++)
        alive += c[k].alive;
    int keep = (alive + 1) / 2;
    for (int k = 0; k < n; k++) {
        if (!c[k].alive)
            continue;
        int ahead = 0; /* survivors ranked above this one */
        for (int j = 0; j < n; j++)
            if (j != k && c[j].alive && (better(&c[j], &c[k]) || (j < k && !better(&c[k], &c[j]))))
                ahead++;
        if (ahead >= keep)
            c[k].e.round = -round; /* marked; cleared below so that ranks use the round's scores */
    }
    for (int k = 0; k < n; k++)
        if (c[k].e.round < 0) {
            c[k].e.round = -c[k].e.round;
            c[k].alive = 0;
        }
}

static nf_status start_candidate(runner *c, int k, const nf_data *d, const nf_train_options *opt, const float *x,
                                 const float *xc, size_t n, const float *v, const float *vc, size_t nv)
{
    nf_config cfg; /* its shape for the data; the training options are the caller's */
    nf_status st = nf_data_defaults_sized(d, nf_model_name(candidates[k]), &cfg, sizeof cfg, NULL, 0);
    if (st)
        return st;
    nf_train_options o = *opt;
    o.checkpoint_path = o.resume_path = NULL;
    o.progress = NULL;
    nf_race_entry_init(&c->e, sizeof c->e);
    snprintf(c->e.model, sizeof c->e.model, "%s", nf_model_name(candidates[k]));
    c->e.dropout = o.dropout;
    c->e.layers = cfg.layers;
    c->e.hidden = cfg.hidden;
    c->alive = 1;
    if ((st = nf_flow_create_for_data(&c->f, d, &cfg)) || (st = train_run_open(&c->run, c->f, x, xc, n, v, vc, nv, &o)))
        return st;
    train_run_set_progress(c->run, opt->progress, opt->user, 0, c->e.model); /* epoch ends: the race's lines */
    return NF_OK;
}

/* The Gaussian mixture, fitted to the end (it is cheap): its entry, and its flow in g->f. */
static void start_gmm(runner *g, const nf_data *d, const nf_train_options *opt, const float *x, size_t n,
                      const float *v, size_t nv, double deadline)
{
    nf_config cfg;
    nf_race_entry_init(&g->e, sizeof g->e);
    snprintf(g->e.model, sizeof g->e.model, "gmm");
    double t0 = clock_seconds();
    nf_train_result res;
    nf_status st = nf_data_defaults_sized(d, "gmm", &cfg, sizeof cfg, NULL, 0);
    if (!st) st = nf_flow_create_for_data(&g->f, d, &cfg);
    if (!st) st = flow_fit_gmm(g->f, x, n, v, nv, opt, deadline, &res);
    g->seconds = clock_seconds() - t0;
    g->e.round = 1; /* a failed fit (a collapsed component) leaves the race at once */
    if (st) {
        nf_flow_free(g->f);
        g->f = NULL;
        return;
    }
    g->e.hidden = g->f->gmm->k;
    g->e.epochs = res.epochs;
    g->e.best_epoch = res.best_epoch;
    g->e.val_log_likelihood = res.val_log_likelihood;
    g->alive = 1;
}

nf_status nf_flow_fit_auto(nf_flow **out, const nf_data *d, const nf_train_options *opt, double max_seconds,
                           nf_train_result *result)
{
    if (!out || !d || !opt)
        return nf_fail(NF_ERR_INVALID, "nf_flow_fit_auto: NULL argument");
    *out = NULL;
    nf_train_options o;
    nf_status st = train_options_in(opt, &o);
    if (st)
        return st;
    if (o.resume_path)
        return nf_fail(NF_ERR_INVALID, "a resumed run continues its model: load it and call nf_flow_fit");
    const float *x, *xc, *v, *vc;
    size_t n = nf_data_rows(d, NF_PART_TRAIN, &x, &xc), nv = nf_data_rows(d, NF_PART_VAL, &v, &vc);
    if (!nv) { /* nothing to score candidates on: the data's default model */
        nf_config cfg;
        nf_train_options sized;
        nf_flow *f = NULL;
        if ((st = nf_data_defaults(d, NULL, &cfg, &sized)) || (st = nf_flow_create_for_data(&f, d, &cfg)) ||
            (st = nf_flow_fit(f, d, &o, result))) {
            nf_flow_free(f);
            return st;
        }
        *out = f;
        return NF_OK;
    }
    double started = clock_seconds(), deadline = max_seconds > 0 ? started + max_seconds / 2 : 0;
    runner c[N_CANDIDATES], gmm;
    memset(c, 0, sizeof c);
    memset(&gmm, 0, sizeof gmm);
    int with_gmm = !d->context_dim && d->dim <= GMM_MAX_DIM && n <= GMM_MAX_ROWS;
    if (with_gmm)
        start_gmm(&gmm, d, &o, x, n, v, nv, deadline);
    for (int k = 0; k < N_CANDIDATES && !st; k++)
        st = start_candidate(&c[k], k, d, &o, x, xc, n, nv ? v : NULL, vc, nv);
    /* rounds: survivors trained to E, 2E, 4E, ... epochs, E about FIRST_ROUND_STEPS steps */
    int batch = n < (size_t)o.batch ? (int)n : o.batch;
    int64_t steps_per_epoch = ((int64_t)n + batch - 1) / batch;
    int64_t epochs = (FIRST_ROUND_STEPS + steps_per_epoch - 1) / steps_per_epoch;
    int alive = N_CANDIDATES, end = 0, round = 0;
    while (!st && alive > 1 && !end) {
        round++;
        st = race_round(c, N_CANDIDATES, epochs, deadline, &o, &end);
        if (st)
            break;
        cut(c, N_CANDIDATES, round);
        alive = 0;
        for (int k = 0; k < N_CANDIDATES; k++)
            alive += c[k].alive;
        epochs *= 2;
    }
    int win = -1;
    for (int k = 0; !st && k < N_CANDIDATES; k++) /* the best survivor (more than one when the race ended early) */
        if (c[k].alive && (win < 0 || better(&c[k], &c[win])))
            win = k;
    for (int k = 0; !st && k < N_CANDIDATES; k++)
        if (c[k].alive && k != win)
            c[k].e.round = round;
    /* the losers leave; the winner trains on */
    for (int k = 0; k < N_CANDIDATES; k++)
        if (k != win) {
            train_run_close(c[k].run, NF_OK, NULL);
            nf_flow_free(c[k].f);
        }
    if (st || win < 0) {
        if (win >= 0) {
            train_run_close(c[win].run, NF_OK, NULL);
            nf_flow_free(c[win].f);
        }
        nf_flow_free(gmm.f);
        return st ? st : nf_fail(NF_ERR_INVALID, "the race ended without a model");
    }
    runner *w = &c[win];
    w->e.round = 0;
    /* the table goes with the model before it trains on: its checkpoints hold it too */
    int entries = N_CANDIDATES + with_gmm;
    nf_race_entry *table = malloc(sizeof *table * entries);
    if (!table) {
        train_run_close(w->run, NF_OK, NULL);
        nf_flow_free(w->f);
        nf_flow_free(gmm.f);
        return nf_fail(NF_ERR_NOMEM, "out of memory for the race's table");
    }
    for (int k = 0; k < N_CANDIDATES; k++) {
        table[k] = c[k].e;
        table[k].seconds = c[k].seconds;
    }
    if (with_gmm) {
        table[N_CANDIDATES] = gmm.e;
        table[N_CANDIDATES].seconds = gmm.seconds;
        table[N_CANDIDATES].round = round + 1; /* until it meets the winner below */
    }
    free(w->f->record.race);
    w->f->record.race = table;
    w->f->record.race_count = entries;
    int stopped;
    train_run_status(w->run, NULL, NULL, NULL, &stopped);
    if (o.checkpoint_path) /* written at the end however the race ended: a resume trains the winner on */
        train_run_set_checkpoint(w->run, o.checkpoint_path, o.checkpoint_seconds);
    if (!stopped && !(o.stop && *o.stop)) {
        train_run_set_progress(w->run, o.progress, o.user, o.progress_seconds, NULL);
        double t0 = clock_seconds();
        st = w->over ? NF_OK : train_run_until(w->run, INT64_MAX, &w->over);
        table[win].seconds += clock_seconds() - t0;
    }
    nf_train_result res;
    st = train_run_close(w->run, st, &res);
    table[win].epochs = res.epochs;
    table[win].best_epoch = res.best_epoch;
    table[win].val_log_likelihood = res.val_log_likelihood;
    if (st) {
        nf_flow_free(w->f);
        nf_flow_free(gmm.f);
        return st;
    }
    nf_flow *chosen = w->f;
    /* the mixture meets the last flow trained to its end: a flow at round 2
     * still learns, and the mixture it led would have lost */
    if (gmm.alive && gmm.e.val_log_likelihood > res.val_log_likelihood) {
        table[win].round = round + 1;
        table[N_CANDIDATES].round = 0;
        chosen = gmm.f;
        chosen->record.race = table;
        chosen->record.race_count = entries;
        w->f->record.race = NULL;
        w->f->record.race_count = 0;
        nf_flow_free(w->f);
        res.epochs = gmm.e.epochs;
        res.best_epoch = gmm.e.best_epoch;
        res.train_log_likelihood = chosen->record.train_ll;
        res.val_log_likelihood = gmm.e.val_log_likelihood;
        if (o.checkpoint_path) /* the checkpoint holds the model returned: a resume gives it back */
            flow_gmm_checkpoint(chosen, x, n, v, nv, &o, o.checkpoint_path);
    } else
        nf_flow_free(gmm.f);
    res.seconds = clock_seconds() - started;
    res.stopped |= o.stop && *o.stop;
    if (result)
        *result = res;
    *out = chosen;
    return NF_OK;
}
