/* Training's progress for people (nf_progress): the lines and the bar
 * `nflow train` draws, here so that the tool, the Python binding and any C
 * program show the same. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/error.h"

enum { BAR_AFTER = 1 }; /* seconds: shorter epochs keep the terminal's one line */

struct nf_progress {
    int flags;
    char prefix[64];
    double max_seconds; /* stop after this many seconds (0: no limit) */
    double started;     /* nf_progress_attach: a resumed run gets its own budget */
    void (*write)(const char *text, void *user); /* NULL: stderr */
    void *user;
    int columns;          /* with write: the bar's width (0: 80) */
    int max_epochs;
    int bar_shown;        /* the bar is on the current line */
    int line_open;        /* a rewritten line ("\r...", no newline) is on the current line */
    int ref_epoch;        /* rows/s over the epoch so far: its rows and time at its start, */
    size_t ref_rows;      /* or at its first call when the start was not seen */
    double ref_time;
    double last_end;      /* when the last epoch ended (0: none yet) */
    double epoch_seconds; /* the last whole epoch, validation included (0: none yet) */
    int checkpoint_warned;
    double best_kl; /* NF_PROGRESS_MARK_BEST: the lowest so far */
};

static void say(nf_progress *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(nf_progress *p, const char *fmt, ...)
{
    char text[640];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (p->write) {
        p->write(text, p->user);
        return;
    }
    fputs(text, stderr);
    fflush(stderr);
}

int nf_progress_flags(int terminal, char *warning, size_t size)
{
    const char *v = getenv("NFLOW_PROGRESS");
    int rewrite = terminal ? NF_PROGRESS_REWRITE : 0;
    if (warning && size)
        warning[0] = '\0';
    if (v && !strcmp(v, "always"))
        return rewrite | NF_PROGRESS_BAR | NF_PROGRESS_BAR_AT_ONCE;
    if (v && !strcmp(v, "never"))
        return rewrite;
    if (v && *v && strcmp(v, "auto") && warning && size)
        snprintf(warning, size, "NFLOW_PROGRESS=%s: not always, never or auto; taken as auto", v);
    return terminal ? rewrite | NF_PROGRESS_BAR : 0;
}

nf_status nf_progress_create(nf_progress **out, int flags, const char *prefix, double max_seconds)
{
    if (!out)
        return nf_fail(NF_ERR_INVALID, "NULL progress pointer");
    *out = NULL;
    if (!(max_seconds >= 0))
        return nf_fail(NF_ERR_INVALID, "max_seconds %g must be >= 0", max_seconds);
    nf_progress *p = calloc(1, sizeof *p);
    if (!p)
        return nf_fail(NF_ERR_NOMEM, "out of memory for a progress display");
    p->flags = flags;
    snprintf(p->prefix, sizeof p->prefix, "%s", prefix ? prefix : "");
    p->max_seconds = max_seconds;
    p->started = clock_seconds();
    p->best_kl = INFINITY;
    *out = p;
    return NF_OK;
}

void nf_progress_set_output(nf_progress *p, void (*write)(const char *text, void *user), void *user, int columns)
{
    if (!p)
        return;
    p->write = write;
    p->user = user;
    p->columns = columns;
}

void nf_progress_free(nf_progress *p) { free(p); }

void nf_progress_attach(nf_progress *p, nf_train_options *opt)
{
    if (!p || !opt)
        return;
    p->started = clock_seconds();
    p->max_epochs = opt->max_epochs;
    if (!opt->resume_path) { /* the first epoch starts now (a resumed one may be under way) */
        p->ref_epoch = 1;
        p->ref_time = p->started;
    }
    if (p->flags & (NF_PROGRESS_BAR | NF_PROGRESS_BAR_AT_ONCE) && !(p->flags & NF_PROGRESS_QUIET))
        opt->progress_seconds = 0.2;
    else if (p->max_seconds > 0)
        opt->progress_seconds = 0.5; /* --max-time inside an epoch too */
    opt->progress = nf_progress_show;
    opt->user = p;
}

static int columns(const nf_progress *p)
{
    if (p->write)
        return p->columns > 0 ? p->columns : 80;
    struct winsize ws;
    if (ioctl(fileno(stderr), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        return ws.ws_col;
    const char *c = getenv("COLUMNS");
    char *end;
    long n = c ? strtol(c, &end, 10) : 0;
    return c && *c && !*end && n > 0 && n <= 10000 ? (int)n : 80;
}

/* Seconds as m:ss, or h:mm:ss from an hour on; "-:--" when not finite or negative. */
static void duration(double seconds, char *buf, size_t size)
{
    if (!(seconds >= 0) || seconds > 1e8) {
        snprintf(buf, size, "-:--");
        return;
    }
    long s = (long)(seconds + 0.5);
    if (s >= 3600)
        snprintf(buf, size, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
    else
        snprintf(buf, size, "%ld:%02ld", s / 60, s % 60);
}

/* "\r<label> [#####.....] PCT%  <tail><extra>\033[K" within the width less
 * one column: the bar narrows (to 10 cells), then disappears, then
 * `extra`, then the tail is cut. */
static void draw(nf_progress *p, const char *label, double fraction, const char *tail, const char *extra)
{
    enum { MAX_BAR = 30, MIN_BAR = 10 };
    char line[512];
    int width = columns(p) - 1; /* the last column would wrap on some terminals */
    if (width > (int)sizeof line - 1)
        width = (int)sizeof line - 1;
    if (width < 1)
        width = 1;
    if (!(fraction >= 0))
        fraction = 0;
    if (fraction > 1)
        fraction = 1;
    int pct = (int)(100 * fraction);
    int text = snprintf(NULL, 0, "%s %3d%%  %s%s", label, pct, tail, extra);
    int cells = width - text - 3; /* " [" and "]" */
    if (cells > MAX_BAR)
        cells = MAX_BAR;
    if (cells >= MIN_BAR) {
        int filled = (int)(cells * fraction), k = snprintf(line, sizeof line, "%s [", label);
        for (int i = 0; i < cells; i++)
            line[k++] = i < filled ? '#' : '.';
        snprintf(line + k, sizeof line - (size_t)k, "] %3d%%  %s%s", pct, tail, extra);
    } else {
        snprintf(line, sizeof line, "%s %3d%%  %s%s", label, pct, tail, text <= width ? extra : "");
    }
    if ((int)strlen(line) > width)
        line[width] = '\0';
    say(p, "\r%s\033[K", line);
}

static void erase_bar(nf_progress *p)
{
    if (p->bar_shown)
        say(p, "\r\033[K");
    p->bar_shown = 0;
}

/* One line, redrawn within an epoch that runs long:
 *   epoch    3 [#########...........]  47%  41230 rows/s  0:04 left (run 1:50)
 * rows/s over the epoch so far, and the time left in the epoch at that
 * pace; with max_seconds, also in the run: to the end of the epoch that
 * passes the limit (or of the last of max_epochs), whole epochs as long as
 * the last one (early stopping can end it sooner). */
static void draw_bar(nf_progress *p, const nf_train_progress *tp)
{
    double now = clock_seconds();
    if (p->ref_epoch != tp->epoch) {
        p->ref_epoch = tp->epoch;
        p->ref_rows = tp->rows_done;
        p->ref_time = now;
    }
    if (!(p->flags & NF_PROGRESS_BAR_AT_ONCE) && now - p->ref_time < BAR_AFTER)
        return;
    double rate = tp->rows_done > p->ref_rows && now > p->ref_time
                      ? (double)(tp->rows_done - p->ref_rows) / (now - p->ref_time) : NAN;
    double left = (double)(tp->rows_per_epoch - tp->rows_done) / rate;
    char label[32], tail[96], extra[64] = "", t_left[32], t_run[32];
    snprintf(label, sizeof label, "epoch %4d", tp->epoch);
    duration(left, t_left, sizeof t_left);
    if (isfinite(rate))
        snprintf(tail, sizeof tail, "%.0f rows/s  %s left", rate, t_left);
    else
        snprintf(tail, sizeof tail, "- rows/s  %s left", t_left);
    if (p->max_seconds > 0 && isfinite(left)) {
        double end = now - p->started + left; /* of this epoch, in this run's seconds */
        double len = p->epoch_seconds > 0 ? p->epoch_seconds : (double)tp->rows_per_epoch / rate;
        double more = end < p->max_seconds ? ceil((p->max_seconds - end) / len) : 0;
        if (more > p->max_epochs - tp->epoch)
            more = p->max_epochs - tp->epoch;
        double run_left = left + (more > 0 ? more : 0) * len, cap = p->max_seconds - (now - p->started);
        duration(run_left < cap ? run_left : cap > 0 ? cap : 0, t_run, sizeof t_run);
        snprintf(extra, sizeof extra, " (run %s)", t_run);
    }
    if (p->line_open) { /* the last epoch's line stays, above the bar */
        say(p, "\n");
        p->line_open = 0;
    }
    draw(p, label, (double)tp->rows_done / (double)tp->rows_per_epoch, tail, extra);
    p->bar_shown = 1;
}

/* The first checkpoint that cannot be written is reported as it happens
 * (on its own line, even when quiet): training goes on without it. */
static void warn_checkpoint(nf_progress *p, const nf_train_progress *tp)
{
    if (tp->checkpoint_failures == 0 || p->checkpoint_warned)
        return;
    p->checkpoint_warned = 1;
    erase_bar(p);
    if (p->line_open) {
        say(p, "\n");
        p->line_open = 0;
    }
    say(p, "%swarning: checkpoint not written: %s; training goes on, and tries again at the next checkpoint\n",
        p->prefix, tp->checkpoint_error ? tp->checkpoint_error : "");
}

int nf_progress_show(const nf_train_progress *tp, void *progress)
{
    nf_progress *p = progress;
    if (!p || !tp)
        return 0;
    int quiet = p->flags & NF_PROGRESS_QUIET, rewrite = p->flags & NF_PROGRESS_REWRITE;
    double now = clock_seconds();
    int stop = p->max_seconds > 0 && now - p->started >= p->max_seconds;
    warn_checkpoint(p, tp);
    if (tp->candidate) { /* the race: one line on a terminal, rewritten; its table follows it */
        if (rewrite && !quiet) {
            say(p, "\rrace: %-9s epoch %4d  val %10.4f  best %10.4f  %6.1fs   ", tp->candidate, tp->epoch,
                tp->val_log_likelihood, tp->best_val, now - p->started);
            p->line_open = 1;
        }
        return stop;
    }
    if (tp->in_epoch) {
        if (!quiet && p->flags & (NF_PROGRESS_BAR | NF_PROGRESS_BAR_AT_ONCE))
            draw_bar(p, tp);
        return stop;
    }
    if (p->last_end > 0)
        p->epoch_seconds = now - p->last_end;
    p->last_end = now;
    p->ref_epoch = tp->epoch + 1; /* the next epoch starts now */
    p->ref_rows = 0;
    p->ref_time = now;
    erase_bar(p);
    /* to a log: every 10th epoch, or every epoch when epochs are slow */
    if (quiet || (!rewrite && !(p->flags & NF_PROGRESS_EVERY_EPOCH) && tp->epoch % 10 != 0 &&
                  tp->seconds < 5.0 * tp->epoch))
        return stop;
    say(p, "%sepoch %4d  train %10.4f  val %10.4f  best %10.4f  (%d bad)  %6.1fs%s", rewrite ? "\r" : "", tp->epoch,
        -tp->train_loss, tp->val_log_likelihood, tp->best_val, tp->bad_epochs, tp->seconds, rewrite ? "   " : "\n");
    p->line_open = rewrite != 0;
    return stop;
}

int nf_progress_show_kl(const nf_kl_progress *kp, void *progress)
{
    nf_progress *p = progress;
    if (!p || !kp)
        return 0;
    int rewrite = p->flags & NF_PROGRESS_REWRITE, better = kp->kl < p->best_kl;
    if (better)
        p->best_kl = kp->kl;
    if (!(p->flags & NF_PROGRESS_QUIET)) {
        say(p, "%sstep %6d  KL %9.5f +- %.5f  cross-entropy %9.5f  entropy %9.5f  %7.1fs%s%s", rewrite ? "\r" : "",
            kp->step, kp->kl, 2 * kp->kl_stderr, kp->cross_entropy, kp->entropy, kp->seconds,
            better && p->flags & NF_PROGRESS_MARK_BEST ? "  *" : "", rewrite ? "   " : "\n");
        p->line_open = rewrite != 0;
    }
    return p->max_seconds > 0 && clock_seconds() - p->started >= p->max_seconds;
}

void nf_progress_finish(nf_progress *p)
{
    if (!p)
        return;
    if (p->bar_shown)
        erase_bar(p);
    else if (p->line_open)
        say(p, "\n");
    p->line_open = 0;
}
