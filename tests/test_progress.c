/* nf_progress: training's progress as nflow train shows it, written
 * through a callback into a buffer and read back. The tool's own output
 * (a terminal from script(1), NFLOW_PROGRESS) is tests/cli_progress.sh. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nflow.h"
#include "harness.h"

typedef struct text {
    char buf[8192];
    size_t len;
} text;

static void append(const char *s, void *user)
{
    text *t = user;
    size_t n = strlen(s);
    if (t->len + n < sizeof t->buf) {
        memcpy(t->buf + t->len, s, n + 1);
        t->len += n;
    }
}

static nf_progress *display(int flags, double max_seconds, text *t)
{
    nf_progress *p = NULL;
    memset(t, 0, sizeof *t);
    CHECK(nf_progress_create(&p, flags, "tool: ", max_seconds) == NF_OK);
    nf_progress_set_output(p, append, t, 60);
    return p;
}

static nf_train_progress epoch_end(int epoch)
{
    nf_train_progress tp;
    memset(&tp, 0, sizeof tp);
    tp.epoch = epoch;
    tp.train_loss = 1.5;
    tp.val_log_likelihood = -1.25;
    tp.best_val = -1.0;
    tp.bad_epochs = 2;
    tp.seconds = 0.5 * epoch;
    tp.rows_per_epoch = 1000;
    tp.checkpoint_error = "";
    return tp;
}

static size_t count(const char *s, const char *what)
{
    size_t n = 0;
    for (const char *at = strstr(s, what); at; at = strstr(at + 1, what))
        n++;
    return n;
}

static void sleep_seconds(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL);
}

/* A log (no flags): the 10th and 20th epochs' lines, each ending in \n,
 * no carriage return or escape; EVERY_EPOCH: all 20; QUIET: none. */
static void test_log_lines(void)
{
    text t;
    nf_progress *p = display(0, 0, &t);
    for (int e = 1; e <= 20; e++) {
        nf_train_progress tp = epoch_end(e);
        CHECK(nf_progress_show(&tp, p) == 0);
    }
    nf_progress_finish(p);
    nf_progress_free(p);
    CHECK(!strcmp(t.buf, "epoch   10  train    -1.5000  val    -1.2500  best    -1.0000  (2 bad)     5.0s\n"
                         "epoch   20  train    -1.5000  val    -1.2500  best    -1.0000  (2 bad)    10.0s\n"),
          "[%s]", t.buf);
    p = display(NF_PROGRESS_EVERY_EPOCH, 0, &t);
    for (int e = 1; e <= 20; e++) {
        nf_train_progress tp = epoch_end(e);
        nf_progress_show(&tp, p);
    }
    nf_progress_free(p);
    CHECK(count(t.buf, "\n") == 20 && count(t.buf, "epoch ") == 20, "[%s]", t.buf);
    p = display(NF_PROGRESS_QUIET | NF_PROGRESS_REWRITE, 0, &t);
    for (int e = 1; e <= 3; e++) {
        nf_train_progress tp = epoch_end(e);
        nf_progress_show(&tp, p);
    }
    nf_progress_finish(p);
    nf_progress_free(p);
    CHECK(t.len == 0, "[%s]", t.buf);
}

/* A terminal: every epoch's line rewrites the last ("\r", no newline)
 * and finish ends it; the bar (at once) is "\repoch N [###...] P%" with
 * rows/s, erased ("\r\033[K") before the next epoch line, the last
 * line kept above it with a newline. */
static void test_terminal_and_bar(void)
{
    text t;
    nf_progress *p = display(NF_PROGRESS_REWRITE | NF_PROGRESS_BAR | NF_PROGRESS_BAR_AT_ONCE, 0, &t);
    nf_train_options opt;
    nf_train_options_default(&opt);
    opt.max_epochs = 5;
    nf_progress_attach(p, &opt);
    CHECK(opt.progress == nf_progress_show && opt.user == p && opt.progress_seconds == 0.2);
    nf_train_progress tp = epoch_end(1);
    CHECK(nf_progress_show(&tp, p) == 0);
    CHECK(!strcmp(t.buf, "\repoch    1  train    -1.5000  val    -1.2500  best    -1.0000  (2 bad)     0.5s   "),
          "[%s]", t.buf);
    tp = epoch_end(1); /* the figures of epoch 1, inside epoch 2 */
    tp.epoch = 2;
    tp.in_epoch = 1;
    tp.rows_done = 0;
    nf_progress_show(&tp, p);
    sleep_seconds(0.01);
    tp.rows_done = 500;
    t.len = 0;
    t.buf[0] = '\0';
    nf_progress_show(&tp, p);
    CHECK(t.buf[0] == '\r' && strstr(t.buf, "epoch    2 [") && strstr(t.buf, "]  50%  ") &&
              strstr(t.buf, " rows/s  ") && strstr(t.buf, " left\033[K"),
          "[%s]", t.buf);
    CHECK(strlen(t.buf) <= 2 + 59 + 3, "the bar is wider than 60 columns less one: [%s]", t.buf);
    tp = epoch_end(2);
    t.len = 0;
    nf_progress_show(&tp, p);
    CHECK(!strncmp(t.buf, "\r\033[K\repoch    2  train ", 22), "[%s]", t.buf);
    t.len = 0;
    nf_progress_finish(p);
    CHECK(!strcmp(t.buf, "\n"), "[%s]", t.buf);
    nf_progress_free(p);
}

/* The edges of the bar: a terminal one column wide (the line cut to one
 * character), 20 columns (the bar gone, the text cut), an epoch of no
 * rows (no division by zero: 0%, "-" rows/s), a fraction past the end
 * (100%). */
static void test_bar_edges(void)
{
    static const struct {
        int columns;
        size_t done, per_epoch;
        const char *want;
    } cases[] = {
        {1, 500, 1000, "\re\033[K"},
        {20, 500, 1000, "\repoch    2  50%  - \033[K"},
        {200, 0, 0, "\repoch    2 [..............................]   0%  - rows/s  -:-- left\033[K"},
        {200, 1500, 1000, "\repoch    2 [##############################] 100%  - rows/s  -:-- left\033[K"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        text t;
        nf_progress *p = display(NF_PROGRESS_BAR | NF_PROGRESS_BAR_AT_ONCE, 0, &t);
        nf_progress_set_output(p, append, &t, cases[i].columns);
        nf_train_progress tp = epoch_end(1);
        tp.epoch = 2;
        tp.in_epoch = 1;
        tp.rows_done = cases[i].done; /* the first call of the epoch: no rate yet */
        tp.rows_per_epoch = cases[i].per_epoch;
        CHECK(nf_progress_show(&tp, p) == 0);
        CHECK(!strcmp(t.buf, cases[i].want), "%d columns, %zu of %zu rows: [%s]", cases[i].columns, cases[i].done,
              cases[i].per_epoch, t.buf);
        nf_progress_free(p);
    }
}

/* The first checkpoint failure is said once, on its own line, even when
 * quiet; max_seconds stops (the callback returns 1) once passed. */
static void test_warning_and_limit(void)
{
    text t;
    nf_progress *p = display(NF_PROGRESS_QUIET, 0.02, &t);
    nf_train_options opt;
    nf_train_options_default(&opt);
    nf_progress_attach(p, &opt);
    CHECK(opt.progress_seconds == 0.5, "%g", opt.progress_seconds);
    nf_train_progress tp = epoch_end(1);
    tp.checkpoint_failures = 1;
    tp.checkpoint_error = "disk full";
    CHECK(nf_progress_show(&tp, p) == 0);
    tp.checkpoint_failures = 2;
    nf_progress_show(&tp, p);
    CHECK(!strcmp(t.buf, "tool: warning: checkpoint not written: disk full; training goes on, and tries again at "
                         "the next checkpoint\n"),
          "[%s]", t.buf);
    sleep_seconds(0.03);
    CHECK(nf_progress_show(&tp, p) == 1);
    tp.in_epoch = 1;
    CHECK(nf_progress_show(&tp, p) == 1);
    nf_progress_free(p);
    CHECK(nf_progress_create(&p, 0, NULL, -1) == NF_ERR_INVALID && p == NULL);
}

/* Reverse KL's lines: two standard errors; "  *" after a new lowest KL
 * with MARK_BEST only; a terminal's rewritten. */
static void test_kl_lines(void)
{
    text t;
    nf_progress *p = display(NF_PROGRESS_MARK_BEST, 0, &t);
    const double kls[3] = {0.5, 0.25, 0.375};
    for (int i = 0; i < 3; i++) {
        nf_kl_progress kp = {100 * (i + 1), kls[i], 2.0, 2.0 - kls[i], 0.01, 1.5};
        CHECK(nf_progress_show_kl(&kp, p) == 0);
    }
    nf_progress_free(p);
    CHECK(!strcmp(t.buf, "step    100  KL   0.50000 +- 0.02000  cross-entropy   2.00000  entropy   1.50000      1.5s  *\n"
                         "step    200  KL   0.25000 +- 0.02000  cross-entropy   2.00000  entropy   1.75000      1.5s  *\n"
                         "step    300  KL   0.37500 +- 0.02000  cross-entropy   2.00000  entropy   1.62500      1.5s\n"),
          "[%s]", t.buf);
    p = display(NF_PROGRESS_REWRITE, 0, &t);
    nf_kl_progress kp = {1, 0.5, 2.0, 1.5, 0.01, 0.25};
    nf_progress_show_kl(&kp, p);
    nf_progress_finish(p);
    nf_progress_free(p);
    CHECK(t.buf[0] == '\r' && !strstr(t.buf, "*") && !strcmp(t.buf + t.len - 4, "   \n"), "[%s]", t.buf);
}

/* NFLOW_PROGRESS: always, never, auto and a wrong value. */
static void test_flags(void)
{
    char warning[128];
    unsetenv("NFLOW_PROGRESS");
    CHECK(nf_progress_flags(1, warning, sizeof warning) == (NF_PROGRESS_REWRITE | NF_PROGRESS_BAR) && !*warning);
    CHECK(nf_progress_flags(0, warning, sizeof warning) == 0);
    setenv("NFLOW_PROGRESS", "always", 1);
    CHECK(nf_progress_flags(0, NULL, 0) == (NF_PROGRESS_BAR | NF_PROGRESS_BAR_AT_ONCE));
    setenv("NFLOW_PROGRESS", "never", 1);
    CHECK(nf_progress_flags(1, NULL, 0) == NF_PROGRESS_REWRITE);
    setenv("NFLOW_PROGRESS", "sometimes", 1);
    CHECK(nf_progress_flags(0, warning, sizeof warning) == 0);
    CHECK(strstr(warning, "NFLOW_PROGRESS=sometimes: not always, never or auto") != NULL, "%s", warning);
    unsetenv("NFLOW_PROGRESS");
}

int main(void)
{
    RUN(test_log_lines);
    RUN(test_terminal_and_bar);
    RUN(test_warning_and_limit);
    RUN(test_bar_edges);
    RUN(test_kl_lines);
    RUN(test_flags);
    TEST_SUMMARY("test_progress");
}
