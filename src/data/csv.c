/* The CSV reader of nf_matrix_read.
 *
 * Comma-separated numbers, one row per line. Spaces and tabs around fields,
 * CRLF line ends, a last line without a newline, a UTF-8 byte-order mark and
 * blank lines (anywhere; line numbers in messages still count them) are
 * accepted. A field may be double-quoted (needed for header names holding
 * commas), but a quoted data field is not a number. Numbers are parsed with
 * strtod, which must consume the whole field (plain short decimals take an
 * exact fast path that gives the same double); NaN, Inf and values beyond
 * float32 are refused. The file is read in large chunks and the rows go into
 * one float buffer that grows geometrically. */
#include "data/csv.h"
#include "data/data_common.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/error.h"

#define CSV_CHUNK ((size_t)1 << 22)
/* A line longer than this is no table (a binary file, /dev/zero piped in) */
#define CSV_MAX_LINE ((size_t)1 << 26)

typedef struct csv_span {
    const char *s, *e; /* the field without surrounding blanks (quotes kept) */
    int quoted;
} csv_span;

typedef struct csv_ctx {
    const char *path;
    FILE *fp;
    char *buf; /* buf[len] is kept free for a terminating NUL */
    size_t cap, len, pos;
    int eof;
    size_t lineno;      /* of the line last returned, 1-based */
    size_t bytes;       /* bytes read so far */
    csv_span *spans;
    size_t spans_cap;
} csv_ctx;

static int is_blank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

/* The next line into [*line, *end), NUL-terminated at *end. 1: a line, 0: end
 * of file, or a failure status (negated) already reported. */
static int next_line(csv_ctx *c, char **line, char **end, nf_status *st)
{
    for (;;) {
        char *p = c->buf + c->pos;
        char *nl = memchr(p, '\n', c->len - c->pos);
        if (nl) {
            *nl = '\0';
            *line = p;
            *end = nl;
            c->pos = (size_t)(nl - c->buf) + 1;
            c->lineno++;
            return 1;
        }
        if (c->eof) {
            if (c->pos < c->len) {
                c->buf[c->len] = '\0';
                *line = p;
                *end = c->buf + c->len;
                c->pos = c->len;
                c->lineno++;
                return 1;
            }
            return 0;
        }
        /* Keep the partial line, then read more. */
        if (c->pos > 0) {
            memmove(c->buf, c->buf + c->pos, c->len - c->pos);
            c->len -= c->pos;
            c->pos = 0;
        }
        if (c->len + 1 >= c->cap) {
            if (c->cap >= CSV_MAX_LINE) {
                *st = nf_fail(NF_ERR_FORMAT, "%s: line %zu is longer than %zu MiB: not a CSV file", c->path,
                              c->lineno + 1, CSV_MAX_LINE >> 20);
                return -1;
            }
            if (c->cap > SIZE_MAX / 2) {
                *st = nf_fail(NF_ERR_NOMEM, "%s: line %zu is too long", c->path, c->lineno + 1);
                return -1;
            }
            char *nb = realloc(c->buf, c->cap * 2);
            if (!nb) {
                *st = nf_fail(NF_ERR_NOMEM, "%s: out of memory reading line %zu", c->path, c->lineno + 1);
                return -1;
            }
            c->buf = nb;
            c->cap *= 2;
        }
        size_t want = c->cap - 1 - c->len;
        size_t got = fread(c->buf + c->len, 1, want, c->fp);
        if (got == 0) {
            if (ferror(c->fp)) {
                *st = nf_fail(NF_ERR_IO, "%s: cannot read: %s", c->path, strerror(errno));
                return -1;
            }
            c->eof = 1;
        }
        if (memchr(c->buf + c->len, '\0', got)) {
            *st = nf_fail(NF_ERR_FORMAT, "%s: holds a NUL byte: a binary file, not CSV", c->path);
            return -1;
        }
        if (c->bytes == 0 && got >= 3 && memcmp(c->buf, "\xEF\xBB\xBF", 3) == 0) {
            c->pos = 3; /* byte-order mark */
        }
        c->len += got;
        c->bytes += got;
    }
}

static int is_blank_line(const char *s, const char *e)
{
    for (; s < e; s++)
        if (!is_blank(*s))
            return 0;
    return 1;
}

/* Splits a line into c->spans; *nfields gets the count. */
static nf_status split_line(csv_ctx *c, const char *p, const char *end, size_t *nfields)
{
    size_t n = 0;
    for (;;) {
        while (p < end && is_blank(*p))
            p++;
        const char *s = p, *e;
        int quoted = 0;
        if (p < end && *p == '"') {
            quoted = 1;
            p++;
            for (;;) {
                if (p >= end)
                    return nf_fail(NF_ERR_FORMAT, "%s: line %zu, column %zu: unterminated quote", c->path, c->lineno,
                                   n);
                if (*p == '"') {
                    if (p + 1 < end && p[1] == '"') {
                        p += 2;
                        continue;
                    }
                    p++;
                    break;
                }
                p++;
            }
            e = p;
            while (p < end && is_blank(*p))
                p++;
            if (p < end && *p != ',')
                return nf_fail(NF_ERR_FORMAT, "%s: line %zu, column %zu: text after the closing quote", c->path,
                               c->lineno, n);
        } else {
            const char *comma = p < end ? memchr(p, ',', (size_t)(end - p)) : NULL;
            p = comma ? comma : end;
            e = p;
            while (e > s && is_blank(e[-1]))
                e--;
        }
        if (n == c->spans_cap) {
            size_t ncap = c->spans_cap ? c->spans_cap * 2 : 64;
            csv_span *ns = realloc(c->spans, ncap * sizeof *ns);
            if (!ns)
                return nf_fail(NF_ERR_NOMEM, "%s: out of memory at line %zu", c->path, c->lineno);
            c->spans = ns;
            c->spans_cap = ncap;
        }
        c->spans[n].s = s;
        c->spans[n].e = e;
        c->spans[n].quoted = quoted;
        n++;
        if (p < end) {
            p++; /* the comma */
            continue;
        }
        break;
    }
    *nfields = n;
    return NF_OK;
}

/* A fast exact path for plain decimals ("-12.5", "3e-7"): when the digits
 * make an integer M <= 2^53 and the power of ten p has |p| <= 22, both M and
 * 10^|p| are exact doubles, so M * 10^p (or M / 10^-p) is one correctly
 * rounded operation: the same double strtod returns (Clinger's fast path).
 * Returns 0 when the field is anything else; strtod then decides. */
#if defined(FLT_EVAL_METHOD) && FLT_EVAL_METHOD == 0
#define CSV_FAST_PATH 1
#else
#define CSV_FAST_PATH 0
#endif

static int fast_decimal(const char *s, const char *e, double *out)
{
    static const double p10[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                   1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    if (!CSV_FAST_PATH)
        return 0;
    int neg = 0;
    if (s < e && (*s == '-' || *s == '+')) {
        neg = *s == '-';
        s++;
    }
    uint64_t m = 0;
    int sig = 0, digits = 0, frac = 0;
    for (; s < e && *s >= '0' && *s <= '9'; s++, digits++) {
        if (m || *s != '0') {
            if (++sig > 19)
                return 0;
            m = m * 10 + (uint64_t)(*s - '0');
        }
    }
    if (s < e && *s == '.') {
        for (s++; s < e && *s >= '0' && *s <= '9'; s++, digits++, frac++) {
            if (m || *s != '0') {
                if (++sig > 19)
                    return 0;
                m = m * 10 + (uint64_t)(*s - '0');
            }
        }
    }
    if (digits == 0)
        return 0;
    int ex = 0;
    if (s < e && (*s == 'e' || *s == 'E')) {
        s++;
        int eneg = 0;
        if (s < e && (*s == '-' || *s == '+')) {
            eneg = *s == '-';
            s++;
        }
        if (s >= e || *s < '0' || *s > '9')
            return 0;
        for (; s < e && *s >= '0' && *s <= '9'; s++) {
            if (ex > 10000)
                return 0;
            ex = ex * 10 + (*s - '0');
        }
        if (eneg)
            ex = -ex;
    }
    if (s != e)
        return 0;
    double v;
    if (m == 0) {
        v = 0.0;
    } else {
        int p = ex - frac;
        if (m > ((uint64_t)1 << 53) || p < -22 || p > 22)
            return 0;
        v = p >= 0 ? (double)m * p10[p] : (double)m / p10[-p];
    }
    *out = neg ? -v : v;
    return 1;
}

/* Whether a field is, in full, something strtod reads. */
static int parses_as_number(const csv_span *sp)
{
    if (sp->quoted || sp->s == sp->e)
        return 0;
    char *endp;
    (void)strtod(sp->s, &endp);
    return endp == sp->e;
}

static nf_status parse_field(csv_ctx *c, const csv_span *sp, size_t field, float *out)
{
    char q[72];
    if (sp->s == sp->e)
        return nf_fail(NF_ERR_FORMAT, "%s: line %zu, column %zu: empty field", c->path, c->lineno, field);
    double v;
    if (!sp->quoted && fast_decimal(sp->s, sp->e, &v)) {
        if (dio_to_float(v, out) == DIO_FLOAT_OK)
            return NF_OK;
    }
    char *endp = (char *)sp->s;
    v = sp->quoted ? 0.0 : strtod(sp->s, &endp);
    if (endp != sp->e || endp == sp->s)
        return nf_fail(NF_ERR_FORMAT, "%s: line %zu, column %zu: not a number: '%s'", c->path, c->lineno, field,
                       dio_quote(q, sizeof q, sp->s, (size_t)(sp->e - sp->s)));
    int r = dio_to_float(v, out);
    if (r == DIO_FLOAT_OK)
        return NF_OK;
    int literal = 0; /* "nan", "inf", "infinity" rather than a too-large number */
    for (const char *t = sp->s; t < sp->e; t++)
        if (*t == 'n' || *t == 'N')
            literal = 1;
    if (r == DIO_FLOAT_NAN || literal)
        return nf_fail(NF_ERR_NONFINITE, "%s: line %zu, column %zu: non-finite value '%s'", c->path, c->lineno,
                       field, dio_quote(q, sizeof q, sp->s, (size_t)(sp->e - sp->s)));
    return nf_fail(NF_ERR_NONFINITE, "%s: line %zu, column %zu: '%s' is too large for float32 (non-finite)", c->path,
                   c->lineno, field, dio_quote(q, sizeof q, sp->s, (size_t)(sp->e - sp->s)));
}

static void ctx_close(csv_ctx *c)
{
    if (c->fp)
        fclose(c->fp);
    free(c->buf);
    free(c->spans);
    c->fp = NULL;
    c->buf = NULL;
    c->spans = NULL;
}

nf_status dio_read_csv(const char *path, int header, const dio_colspec *cs, nf_matrix *out)
{
    csv_ctx c;
    memset(&c, 0, sizeof c);
    c.path = path;
    c.fp = fopen(path, "rb");
    if (!c.fp)
        return nf_fail(NF_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    /* One chunk, or less for a small file (it then fits in one read). */
    c.cap = CSV_CHUNK;
    struct stat sb;
    if (fstat(fileno(c.fp), &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size >= 0 &&
        (uint64_t)sb.st_size + 2 < (uint64_t)c.cap)
        c.cap = (size_t)sb.st_size + 2 < 256 ? 256 : (size_t)sb.st_size + 2;
    c.buf = malloc(c.cap);
    if (!c.buf) {
        ctx_close(&c);
        return nf_fail(NF_ERR_NOMEM, "%s: out of memory", path);
    }

    nf_status st = NF_OK;
    size_t *idx = NULL, nsel = 0, ncols = 0, first_line = 0;
    size_t rows = 0, cap_rows = 0;
    float *values = NULL;
    int have_first = 0;
    char *line, *end;
    int r;
    while ((r = next_line(&c, &line, &end, &st)) == 1) {
        if (is_blank_line(line, end))
            continue;
        size_t nf = 0;
        st = split_line(&c, line, end, &nf);
        if (st != NF_OK)
            break;
        if (!have_first) {
            have_first = 1;
            first_line = c.lineno;
            ncols = nf;
            st = dio_colspec_resolve(path, cs, ncols, &idx, &nsel);
            if (st != NF_OK)
                break;
            int is_header = header == 1;
            if (header == -1) {
                is_header = 1;
                for (size_t k = 0; k < nsel; k++)
                    if (parses_as_number(&c.spans[idx[k]]))
                        is_header = 0;
            }
            if (is_header)
                continue;
        } else if (nf != ncols) {
            st = nf_fail(NF_ERR_FORMAT, "%s: line %zu: %zu fields, expected %zu (as on line %zu)", path, c.lineno, nf,
                         ncols, first_line);
            break;
        }
        if (rows == cap_rows) {
            size_t ncap = cap_rows ? cap_rows * 2 : (nsel < 256 ? 4096 / nsel : 16);
            if (ncap > SIZE_MAX / sizeof(float) / nsel) {
                st = nf_fail(NF_ERR_NOMEM, "%s: too many rows (line %zu)", path, c.lineno);
                break;
            }
            float *nv = realloc(values, ncap * nsel * sizeof(float));
            if (!nv) {
                st = nf_fail(NF_ERR_NOMEM, "%s: out of memory at line %zu", path, c.lineno);
                break;
            }
            values = nv;
            cap_rows = ncap;
        }
        float *row = values + rows * nsel;
        for (size_t k = 0; k < nsel; k++) {
            st = parse_field(&c, &c.spans[idx[k]], idx[k], &row[k]);
            if (st != NF_OK)
                break;
        }
        if (st != NF_OK)
            break;
        rows++;
    }
    if (r < 0 || st != NF_OK) {
        free(values);
        free(idx);
        ctx_close(&c);
        return st;
    }
    size_t total_bytes = c.bytes;
    ctx_close(&c);
    free(idx);
    if (!have_first) {
        free(values);
        if (total_bytes == 0)
            return nf_fail(NF_ERR_FORMAT, "%s: empty file", path);
        return nf_fail(NF_ERR_FORMAT, "%s: no data rows (only blank lines)", path);
    }
    if (rows == 0) {
        free(values);
        return nf_fail(NF_ERR_FORMAT, "%s: no data rows (only the header on line %zu)", path, first_line);
    }
    if (rows < cap_rows) {
        float *nv = realloc(values, rows * nsel * sizeof(float));
        if (nv)
            values = nv;
    }
    out->rows = rows;
    out->cols = nsel;
    out->values = values;
    return NF_OK;
}
