/* Checkpoints and resume: a run interrupted anywhere (mid-epoch, between a
 * step and its validation, at an epoch boundary) and resumed from its last
 * checkpoint ends with the same bits as the uninterrupted run; mismatched
 * data, a foreign flow and damaged files are refused; a checkpoint is also
 * a model file. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "extras/nflow_extras.h"
#include "harness.h"
#include "train/checkpoint.h"
#include "train/train_state.h"

static char dir[] = "/tmp/nflow_test_checkpoint_XXXXXX";

static void path_in(char *buf, const char *name) { snprintf(buf, 256, "%s/%s", dir, name); }

/* 300 training rows in batches of 32: 10 steps per epoch, the last of 12 rows */
enum { N_TRAIN = 300, N_VAL = 60, BATCH = 32, STEPS_PER_EPOCH = 10, EPOCHS = 5 };
static float data[(N_TRAIN + N_VAL) * 2];
#define TRAIN data
#define VAL (data + 2 * N_TRAIN)

static nf_flow *make_flow(int batch_norm)
{
    nf_config cfg;
    nf_config_default(&cfg, NF_MODEL_REALNVP, 2);
    cfg.layers = 2;
    cfg.hidden = 8;
    cfg.seed = 5;
    cfg.batch_norm = batch_norm;
    cfg.whiten = 0; /* the runs below were shaped (bad epochs, lr decays) on the plain start */
    nf_flow *f = NULL;
    CHECK(nf_flow_create(&f, &cfg) == NF_OK);
    CHECK(f && nf_flow_fit_standardization(f, TRAIN, N_TRAIN) == NF_OK);
    return f;
}

/* A high lr with patience 4 (lr decay after every bad epoch) so that the
 * run goes through bad epochs and decays, and its best epoch is not the
 * last (epoch 2 of 5 without batch norm, 4 with). */
static int run_epochs = EPOCHS, run_patience = 4;
static double run_dropout = 0;
static void options(nf_train_options *o)
{
    nf_train_options_default(o);
    o->batch = BATCH;
    o->lr = 0.05;
    o->max_epochs = run_epochs;
    o->patience = run_patience;
    o->patience_steps = 0; /* the runs below stop by epochs */
    o->seed = 9;
    o->dropout = run_dropout;
}

static long hook_steps, hook_limit;
static int crash_after(const train_state *s, void *user)
{
    (void)s;
    (void)user;
    return ++hook_steps >= hook_limit;
}
static void crash_in(long steps)
{
    hook_steps = 0;
    hook_limit = steps;
    train_step_hook = steps > 0 ? crash_after : NULL;
}

static int bad_seen;
static int note_bad(const nf_train_progress *p, void *user)
{
    (void)user;
    bad_seen |= p->bad_epochs > 0;
    return 0;
}

static int stop_at;
static int stop_at_epoch(const nf_train_progress *p, void *user)
{
    (void)user;
    return p->epoch == stop_at;
}

static int write_file(const char *path, const unsigned char *buf, long size)
{
    FILE *fp = fopen(path, "wb");
    if (!fp)
        return 0;
    int ok = fwrite(buf, 1, (size_t)size, fp) == (size_t)size;
    return fclose(fp) == 0 && ok;
}

/* Same parameters, layer state, Adam state, training record and saved
 * bytes. */
static void check_same(nf_flow *a, nf_flow *b, const char *what)
{
    CHECK(a->n_params == b->n_params && a->n_state == b->n_state, "%s: sizes", what);
    if (a->n_params != b->n_params || a->n_state != b->n_state)
        return;
    size_t n = a->n_params;
    CHECK(memcmp(a->params, b->params, sizeof(float) * n) == 0, "%s: parameters differ", what);
    CHECK(memcmp(a->opt.m, b->opt.m, sizeof(float) * n) == 0, "%s: Adam m differs", what);
    CHECK(memcmp(a->opt.v, b->opt.v, sizeof(float) * n) == 0, "%s: Adam v differs", what);
    CHECK(a->opt.t == b->opt.t, "%s: Adam step %lld vs %lld", what, (long long)a->opt.t, (long long)b->opt.t);
    CHECK(a->n_state == 0 || memcmp(a->state, b->state, sizeof(float) * a->n_state) == 0, "%s: layer state", what);
    CHECK(a->record.epochs == b->record.epochs && a->record.best_epoch == b->record.best_epoch, "%s: epochs %lld/%lld vs %lld/%lld", what,
          (long long)a->record.epochs, (long long)a->record.best_epoch, (long long)b->record.epochs, (long long)b->record.best_epoch);
    char pa[256], pb[256];
    path_in(pa, "same_a.nfm");
    path_in(pb, "same_b.nfm");
    CHECK(nf_flow_save(a, pa) == NF_OK && nf_flow_save(b, pb) == NF_OK);
    size_t sa = 0, sb = 0;
    unsigned char *ba = th_slurp(pa, &sa), *bb = th_slurp(pb, &sb);
    CHECK(ba && bb && sa == sb && memcmp(ba, bb, sa) == 0, "%s: saved models differ", what);
    free(ba);
    free(bb);
}

/* The uninterrupted run. */
static nf_flow *reference(int batch_norm, nf_train_result *res)
{
    nf_flow *f = make_flow(batch_norm);
    nf_train_options o;
    options(&o);
    o.progress = note_bad;
    bad_seen = 0;
    CHECK(nf_flow_train(f, TRAIN, N_TRAIN, VAL, N_VAL, &o, res) == NF_OK);
    if (run_patience > 2)
        CHECK(res->epochs == run_epochs && res->best_epoch < run_epochs, "the reference ran %d epochs, best %d",
              res->epochs, res->best_epoch);
    else
        CHECK(res->epochs < run_epochs, "the reference did not stop early (%d epochs)", res->epochs);
    CHECK(bad_seen, "the reference run has no bad epoch: the test does not cover the lr decay");
    return f;
}

static void test_checkpointing_changes_nothing(void)
{
    nf_train_result r0, r1;
    nf_flow *ref = reference(0, &r0), *f = make_flow(0);
    char ck[256];
    path_in(ck, "every_step.nfc");
    nf_train_options o;
    options(&o);
    o.checkpoint_path = ck;
    o.checkpoint_seconds = 0;
    CHECK(nf_flow_train(f, TRAIN, N_TRAIN, VAL, N_VAL, &o, &r1) == NF_OK);
    check_same(ref, f, "with checkpoints after every step");
    CHECK(r1.best_epoch == r0.best_epoch && r1.val_log_likelihood == r0.val_log_likelihood);
    /* the final checkpoint resumes to the same end */
    nf_flow *g = NULL;
    CHECK(nf_flow_load(&g, ck) == NF_OK);
    o.resume_path = ck;
    o.checkpoint_path = NULL;
    CHECK(g && nf_flow_train(g, TRAIN, N_TRAIN, VAL, N_VAL, &o, &r1) == NF_OK, "%s", nf_last_error());
    check_same(ref, g, "resumed from the final checkpoint");
    CHECK(r1.epochs == r0.epochs);
    nf_flow_free(g);
    nf_flow_free(f);
    nf_flow_free(ref);
}

/* Crash after `first` steps, resume and crash again after `second` more,
 * then resume to the end. */
static void crash_resume(int batch_norm, long first, long second)
{
    nf_train_result r0, r1;
    nf_flow *ref = reference(batch_norm, &r0), *f = make_flow(batch_norm);
    char ck[256];
    path_in(ck, "crash.nfc");
    unlink(ck);
    nf_train_options o;
    options(&o);
    o.checkpoint_path = ck;
    o.checkpoint_seconds = 0;
    crash_in(first);
    CHECK(nf_flow_train(f, TRAIN, N_TRAIN, VAL, N_VAL, &o, &r1) == NF_ERR_INVALID);
    /* where it stopped, as the file says */
    mf_file *mf = NULL;
    int64_t epoch = -1, next = -1;
    CHECK(mf_read(ck, &mf) == NF_OK);
    const mf_section *s = mf_section_at(mf, mf_section_count(mf) - 1);
    CHECK(strcmp(mf_section_tag(s), "train_state") == 0);
    CHECK(mf_get_i64(mf, s, "epoch", &epoch) == NF_OK && mf_get_i64(mf, s, "next_row", &next) == NF_OK);
    mf_free(mf);
    CHECK(epoch == first / STEPS_PER_EPOCH && next == (first % STEPS_PER_EPOCH) * BATCH, "epoch %lld, row %lld",
          (long long)epoch, (long long)next);
    /* the checkpoint is a model: the crashed flow's */
    nf_flow *g = NULL;
    CHECK(nf_flow_load(&g, ck) == NF_OK, "%s", nf_last_error());
    if (!g) {
        crash_in(0);
        nf_flow_free(f);
        nf_flow_free(ref);
        return;
    }
    double la[N_VAL], lb[N_VAL];
    CHECK(nf_flow_log_prob(f, VAL, N_VAL, la) == NF_OK && nf_flow_log_prob(g, VAL, N_VAL, lb) == NF_OK);
    CHECK(memcmp(la, lb, sizeof la) == 0, "the checkpoint's model is not the flow at the crash");
    nf_flow_free(f);
    o.resume_path = ck;
    crash_in(second);
    CHECK(nf_flow_train(g, TRAIN, N_TRAIN, VAL, N_VAL, &o, &r1) == NF_ERR_INVALID);
    nf_flow_free(g);
    crash_in(0);
    CHECK(nf_flow_load(&g, ck) == NF_OK);
    CHECK(g && nf_flow_train(g, TRAIN, N_TRAIN, VAL, N_VAL, &o, &r1) == NF_OK, "%s", nf_last_error());
    if (g)
        check_same(ref, g, "crashed twice and resumed");
    CHECK(r1.epochs == r0.epochs && r1.best_epoch == r0.best_epoch && r1.val_log_likelihood == r0.val_log_likelihood &&
              r1.train_log_likelihood == r0.train_log_likelihood,
          "results differ");
    nf_flow_free(g);
    nf_flow_free(ref);
}

/* Mid-epoch, then right after an epoch's last step (its validation still
 * to do: 13 + 17 = 30 steps), after the best epoch (2). */
static void test_crash_mid_epoch(void) { crash_resume(0, 13, 17); }
/* With dropout: the draws follow the seed and the step, so a resumed run
 * ends as the uninterrupted one; the checkpoint keeps the rate; and the
 * flow left by a crashed run evaluates without dropout (crash_resume
 * compares it with the checkpoint's model). */
static void test_crash_with_dropout(void)
{
    nf_train_result r;
    nf_flow *plain = reference(0, &r);
    run_dropout = 0.2;
    nf_flow *dropped = reference(0, &r);
    CHECK(memcmp(plain->params, dropped->params, sizeof(float) * plain->n_params) != 0, "dropout changes nothing");
    crash_resume(0, 13, 17);
    char ck[256];
    path_in(ck, "crash.nfc");
    nf_train_options saved;
    nf_train_options_default(&saved);
    CHECK(nf_train_options_read(ck, &saved) == NF_OK && saved.dropout == (double)run_dropout, "saved dropout %g",
          saved.dropout);
    run_dropout = 0;
    nf_flow_free(plain);
    nf_flow_free(dropped);
}
/* With batch normalisation: layer state and its best-epoch copy (4). */
static void test_crash_with_layer_state(void) { crash_resume(1, 24, 22); }
/* Stopped by patience: the resumed run stops at the same epoch. */
static void test_crash_patience_stop(void)
{
    run_patience = 2;
    run_epochs = 20;
    crash_resume(0, 25, 10);
    test_checkpointing_changes_nothing();
    run_patience = 4;
    run_epochs = EPOCHS;
}

/* Stopped by the progress callback at an epoch's end, then resumed with
 * more epochs allowed than the first run had. */
static void test_stop_and_extend(void)
{
    nf_train_result r0, r1;
    nf_flow *ref = reference(0, &r0), *f = make_flow(0);
    char ck[256];
    path_in(ck, "stop.nfc");
    nf_train_options o;
    options(&o);
    o.checkpoint_path = ck;
    o.checkpoint_seconds = 1e9; /* only when training stops */
    o.progress = stop_at_epoch;
    stop_at = 2;
    CHECK(nf_flow_train(f, TRAIN, N_TRAIN, VAL, N_VAL, &o, &r1) == NF_OK && r1.epochs == 2);
    nf_flow_free(f);
    nf_flow *g = NULL;
    CHECK(nf_flow_load(&g, ck) == NF_OK);
    o.progress = NULL;
    o.resume_path = ck;
    o.max_epochs = 4; /* then 4 -> 5 */
    CHECK(g && nf_flow_train(g, TRAIN, N_TRAIN, VAL, N_VAL, &o, &r1) == NF_OK && r1.epochs == 4);
    nf_flow_free(g);
    CHECK(nf_flow_load(&g, ck) == NF_OK);
    o.max_epochs = EPOCHS;
    CHECK(g && nf_flow_train(g, TRAIN, N_TRAIN, VAL, N_VAL, &o, &r1) == NF_OK && r1.epochs == EPOCHS);
    if (g)
        check_same(ref, g, "stopped at epoch 2 and 4, resumed");
    nf_flow_free(g);
    nf_flow_free(ref);
}

/* The interval is respected: no checkpoint before it passes. */
static void test_interval(void)
{
    nf_flow *f = make_flow(0);
    char ck[256];
    path_in(ck, "interval.nfc");
    unlink(ck);
    nf_train_options o;
    options(&o);
    o.checkpoint_path = ck;
    o.checkpoint_seconds = 1e9;
    crash_in(15);
    CHECK(nf_flow_train(f, TRAIN, N_TRAIN, VAL, N_VAL, &o, NULL) == NF_ERR_INVALID);
    crash_in(0);
    CHECK(access(ck, F_OK) != 0, "a checkpoint was written before its interval passed");
    o.checkpoint_seconds = -1;
    CHECK(nf_flow_train(f, TRAIN, N_TRAIN, VAL, N_VAL, &o, NULL) == NF_ERR_INVALID);
    nf_train_options d;
    nf_train_options_default(&d);
    CHECK(d.checkpoint_seconds == 300 && !d.checkpoint_path && !d.resume_path);
    nf_flow_free(f);
}

/* A checkpoint mid-epoch 2 (and the flow at that point, for comparisons). */
static nf_flow *crashed_checkpoint(const char *ck)
{
    nf_flow *f = make_flow(0);
    nf_train_options o;
    options(&o);
    o.checkpoint_path = ck;
    o.checkpoint_seconds = 0;
    crash_in(14);
    CHECK(nf_flow_train(f, TRAIN, N_TRAIN, VAL, N_VAL, &o, NULL) == NF_ERR_INVALID);
    crash_in(0);
    nf_flow_free(f);
    nf_flow *g = NULL;
    CHECK(nf_flow_load(&g, ck) == NF_OK);
    return g;
}

/* resume_path = ck on this data; returns the status and checks that a
 * refusal leaves the flow alone and names the file. */
static nf_status resume(nf_flow *g, const char *ck, const float *train, size_t n_train, const float *val,
                        size_t n_val)
{
    nf_train_options o;
    options(&o);
    o.resume_path = ck;
    float *before = malloc(sizeof(float) * g->n_params);
    memcpy(before, g->params, sizeof(float) * g->n_params);
    int64_t t = g->opt.t;
    nf_status st = nf_flow_train(g, train, n_train, val, n_val, &o, NULL);
    if (st) {
        CHECK(memcmp(before, g->params, sizeof(float) * g->n_params) == 0 && t == g->opt.t,
              "a refused resume changed the flow");
        CHECK(strstr(nf_last_error(), ck) != NULL, "message does not name the file: %s", nf_last_error());
    }
    free(before);
    return st;
}

static void test_mismatches_refused(void)
{
    char ck[256], model[256];
    path_in(ck, "mismatch.nfc");
    path_in(model, "plain.nfm");
    nf_flow *g = crashed_checkpoint(ck);
    if (!g)
        return;
    float *other = malloc(sizeof data);
    memcpy(other, data, sizeof data);
    other[2 * 150 + 1] += 0.25f; /* one training value */
    CHECK(resume(g, ck, other, N_TRAIN, other + 2 * N_TRAIN, N_VAL) == NF_ERR_INVALID);
    CHECK(strstr(nf_last_error(), "training data") != NULL, "%s", nf_last_error());
    memcpy(other, data, sizeof data);
    other[2 * N_TRAIN + 7] -= 0.5f; /* one validation value */
    CHECK(resume(g, ck, other, N_TRAIN, other + 2 * N_TRAIN, N_VAL) == NF_ERR_INVALID);
    CHECK(strstr(nf_last_error(), "validation data") != NULL, "%s", nf_last_error());
    CHECK(resume(g, ck, TRAIN, N_TRAIN - 1, VAL, N_VAL) == NF_ERR_INVALID);
    CHECK(strstr(nf_last_error(), "training data (300 rows, now 299)") != NULL, "%s", nf_last_error());
    CHECK(resume(g, ck, TRAIN, N_TRAIN, NULL, 0) == NF_ERR_INVALID);
    CHECK(strstr(nf_last_error(), "validation data (60 rows, now 0)") != NULL, "%s", nf_last_error());
    /* a flow other than the checkpoint's */
    nf_flow *fresh = make_flow(0);
    CHECK(resume(fresh, ck, TRAIN, N_TRAIN, VAL, N_VAL) == NF_ERR_INVALID);
    CHECK(strstr(nf_last_error(), "not the model saved in this checkpoint") != NULL, "%s", nf_last_error());
    /* a model file is not a checkpoint */
    CHECK(nf_flow_save(fresh, model) == NF_OK);
    CHECK(resume(fresh, model, TRAIN, N_TRAIN, VAL, N_VAL) == NF_ERR_FORMAT);
    CHECK(strstr(nf_last_error(), "not a training checkpoint") != NULL, "%s", nf_last_error());
    nf_train_options o;
    options(&o);
    CHECK(nf_train_options_read(model, &o) == NF_ERR_FORMAT);
    /* the right data still resumes */
    CHECK(resume(g, ck, TRAIN, N_TRAIN, VAL, N_VAL) == NF_OK, "%s", nf_last_error());
    nf_flow_free(fresh);
    nf_flow_free(g);
    free(other);
}

/* Truncated, corrupted and crafted (valid checksum, impossible state)
 * checkpoints are refused, as models and for resuming. */
static void test_damaged_refused(void)
{
    char ck[256], bad[256];
    path_in(ck, "damaged.nfc");
    path_in(bad, "bad.nfc");
    nf_flow *g = crashed_checkpoint(ck);
    size_t n = 0;
    unsigned char *buf = th_slurp(ck, &n);
    long size = (long)n;
    CHECK(g && buf);
    if (!g || !buf) {
        nf_flow_free(g);
        free(buf);
        return;
    }
    long cuts[] = {0, 30, size / 2, size - 200, size - 13, size - 1};
    for (size_t c = 0; c < sizeof cuts / sizeof cuts[0]; c++) {
        CHECK(write_file(bad, buf, cuts[c]));
        nf_flow *h = NULL;
        CHECK(nf_flow_load(&h, bad) != NF_OK && h == NULL, "truncated to %ld bytes loaded", cuts[c]);
        CHECK(resume(g, bad, TRAIN, N_TRAIN, VAL, N_VAL) != NF_OK, "truncated to %ld bytes resumed", cuts[c]);
    }
    for (long at = 50; at < size; at += size / 9) {
        buf[at] ^= 0x04;
        CHECK(write_file(bad, buf, size));
        buf[at] ^= 0x04;
        CHECK(resume(g, bad, TRAIN, N_TRAIN, VAL, N_VAL) == NF_ERR_CHECKSUM, "a flipped byte at %ld resumed", at);
    }
    /* rewritten through the writer, so the checksum is right */
    train_state s;
    nf_train_options o;
    options(&o);
    CHECK(train_state_init(&s, g, TRAIN, N_TRAIN, VAL, N_VAL, &o, 1) == NF_OK);
    CHECK(checkpoint_read(ck, g, &s) == NF_OK, "%s", nf_last_error());
    CHECK(s.epoch == 1 && s.next == 4 * BATCH && s.loss_rows == s.next);
    int64_t keep = s.order[5];
    s.order[5] = s.order[6];
    CHECK(checkpoint_write(g, &s, bad) == NF_OK);
    CHECK(resume(g, bad, TRAIN, N_TRAIN, VAL, N_VAL) == NF_ERR_FORMAT);
    CHECK(strstr(nf_last_error(), "not a permutation") != NULL, "%s", nf_last_error());
    s.order[5] = keep;
    s.next = s.loss_rows = 5;
    CHECK(checkpoint_write(g, &s, bad) == NF_OK);
    CHECK(resume(g, bad, TRAIN, N_TRAIN, VAL, N_VAL) == NF_ERR_FORMAT);
    CHECK(strstr(nf_last_error(), "next_row") != NULL, "%s", nf_last_error());
    s.next = s.loss_rows = 4 * BATCH;
    s.lr = -1;
    CHECK(checkpoint_write(g, &s, bad) == NF_OK);
    CHECK(resume(g, bad, TRAIN, N_TRAIN, VAL, N_VAL) == NF_ERR_FORMAT);
    s.lr = 0.05;
    s.opt.lr_decay = 7;
    CHECK(checkpoint_write(g, &s, bad) == NF_OK);
    CHECK(resume(g, bad, TRAIN, N_TRAIN, VAL, N_VAL) == NF_ERR_FORMAT);
    CHECK(strstr(nf_last_error(), "saved training options") != NULL, "%s", nf_last_error());
    train_state_free(&s);
    nf_flow_free(g);
    free(buf);
}

static void test_checkpoint_is_a_model(void)
{
    char ck[256], again[256];
    path_in(ck, "model.nfc");
    path_in(again, "again.nfm");
    nf_flow *g = crashed_checkpoint(ck);
    if (!g)
        return;
    double lp[N_VAL];
    CHECK(nf_flow_log_prob(g, VAL, N_VAL, lp) == NF_OK && isfinite(lp[0]));
    char info[4096];
    CHECK(nf_flow_describe(g, info, sizeof info) > 0 && strstr(info, "realnvp") != NULL);
    /* saved as a model it has neither train_state nor the optimizer's
     * moments (what evaluation and sampling read, no more), and loads with
     * the same parameters and a fresh Adam */
    CHECK(nf_flow_save(g, again) == NF_OK);
    mf_file *mf = NULL;
    CHECK(mf_read(again, &mf) == NF_OK);
    CHECK(mf && strcmp(mf_section_tag(mf_section_at(mf, mf_section_count(mf) - 1)), "parameters") == 0);
    mf_free(mf);
    nf_flow *h = NULL;
    CHECK(nf_flow_load(&h, again) == NF_OK);
    if (h) {
        double lp2[N_VAL];
        CHECK(memcmp(h->params, g->params, sizeof(float) * g->n_params) == 0);
        CHECK(h->opt.t == 0 && g->opt.t > 0, "steps %lld and %lld", (long long)h->opt.t, (long long)g->opt.t);
        CHECK(nf_flow_log_prob(h, VAL, N_VAL, lp2) == NF_OK && memcmp(lp, lp2, sizeof lp) == 0);
        nf_flow_free(h);
    }
    nf_train_options o;
    nf_train_options_default(&o);
    CHECK(nf_train_options_read(ck, &o) == NF_OK);
    CHECK(o.batch == BATCH && o.lr == 0.05 && o.max_epochs == EPOCHS && o.patience == 4 && o.seed == 9 &&
          o.lr_decay == 0.5 && o.clip_norm == 100 && o.weight_decay == 1e-6);
    nf_flow_free(g);
}

/* In-epoch progress (progress_seconds): a call after every step here, with
 * the rows done so far and the current epoch, changes nothing in the run;
 * a non-zero return stops it mid-epoch with the best parameters put back. */
static int in_epoch_calls, in_epoch_bad, stop_after_calls;
static size_t last_rows_done;
static int watch_in_epoch(const nf_train_progress *p, void *user)
{
    (void)user;
    if (!p->in_epoch) {
        last_rows_done = 0;
        in_epoch_bad |= p->rows_done != N_TRAIN;
        return 0;
    }
    in_epoch_calls++;
    in_epoch_bad |= p->rows_per_epoch != N_TRAIN || p->rows_done <= last_rows_done || p->rows_done >= N_TRAIN ||
                    p->rows_done % BATCH != 0 || p->epoch < 1 || p->epoch > EPOCHS;
    last_rows_done = p->rows_done;
    return stop_after_calls && in_epoch_calls >= stop_after_calls;
}

static void test_in_epoch_progress(void)
{
    nf_train_result ra, rb;
    nf_flow *a = reference(0, &ra), *b = make_flow(0);
    nf_train_options o;
    options(&o);
    o.progress = watch_in_epoch;
    o.progress_seconds = 1e-9;
    in_epoch_calls = in_epoch_bad = stop_after_calls = 0;
    CHECK(nf_flow_train(b, TRAIN, N_TRAIN, VAL, N_VAL, &o, &rb) == NF_OK);
    CHECK(in_epoch_calls == EPOCHS * (STEPS_PER_EPOCH - 1), "%d in-epoch calls", in_epoch_calls);
    CHECK(!in_epoch_bad, "in-epoch figures wrong");
    check_same(a, b, "with in-epoch progress");
    nf_flow_free(b);
    b = make_flow(0);
    in_epoch_calls = 0;
    stop_after_calls = STEPS_PER_EPOCH + 3; /* in epoch 2 */
    CHECK(nf_flow_train(b, TRAIN, N_TRAIN, VAL, N_VAL, &o, &rb) == NF_OK);
    /* the part of epoch 2 counts as an epoch when its parameters beat epoch 1's */
    CHECK((rb.epochs == 1 || (rb.epochs == 2 && rb.best_epoch == 2)) && in_epoch_calls == stop_after_calls,
          "stopped after %d epochs, %d calls", rb.epochs, in_epoch_calls);
    o.progress_seconds = -1;
    CHECK(nf_flow_train(b, TRAIN, N_TRAIN, VAL, N_VAL, &o, &rb) == NF_ERR_INVALID);
    nf_flow_free(a);
    nf_flow_free(b);
}

/* A checkpoint that cannot be written (here: its folder is missing) does
 * not stop training: the run ends as without checkpoints, NF_OK, and the
 * result and the progress calls count the failures with the message. */
static int progress_failures;
static int watch_failures(const nf_train_progress *p, void *user)
{
    (void)user;
    progress_failures = p->checkpoint_failures;
    CHECK(p->checkpoint_failures == 0 || strstr(p->checkpoint_error, "no_such_folder/ck.nfc"), "progress: '%s'",
          p->checkpoint_error);
    return 0;
}

static void test_unwritable_checkpoint_goes_on(void)
{
    nf_train_result r0, r1;
    nf_flow *ref = reference(0, &r0), *f = make_flow(0);
    const char *last = NULL;
    CHECK(nf_flow_checkpoint_failures(ref, &last) == 0 && last && last[0] == '\0');
    char ck[256];
    path_in(ck, "no_such_folder/ck.nfc");
    nf_train_options o;
    options(&o);
    o.checkpoint_path = ck;
    o.checkpoint_seconds = 0; /* after every step, and at the end */
    o.progress = watch_failures;
    progress_failures = -1;
    CHECK(nf_flow_train(f, TRAIN, N_TRAIN, VAL, N_VAL, &o, &r1) == NF_OK, "%s", nf_last_error());
    check_same(ref, f, "with an unwritable checkpoint");
    CHECK(r1.epochs == r0.epochs && r1.best_epoch == r0.best_epoch && r1.val_log_likelihood == r0.val_log_likelihood);
    int failures = nf_flow_checkpoint_failures(f, &last);
    CHECK(failures == EPOCHS * STEPS_PER_EPOCH + 1, "%d failures", failures);
    CHECK(strstr(last, "no_such_folder/ck.nfc") != NULL, "'%s'", last);
    CHECK(progress_failures == EPOCHS * STEPS_PER_EPOCH, "the last progress call saw %d", progress_failures);
    nf_flow_free(f);
    nf_flow_free(ref);
}

int main(void)
{
    if (!mkdtemp(dir))
        return 1;
    nf_set_threads(1);
    if (nf_toy_sample("two_moons", N_TRAIN + N_VAL, 17, data) != NF_OK)
        return 1;
    RUN(test_checkpointing_changes_nothing);
    RUN(test_crash_mid_epoch);
    RUN(test_crash_with_dropout);
    RUN(test_crash_with_layer_state);
    RUN(test_crash_patience_stop);
    RUN(test_stop_and_extend);
    RUN(test_interval);
    RUN(test_mismatches_refused);
    RUN(test_damaged_refused);
    RUN(test_checkpoint_is_a_model);
    RUN(test_in_epoch_progress);
    RUN(test_unwritable_checkpoint_goes_on);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    TEST_SUMMARY("test_checkpoint");
}
