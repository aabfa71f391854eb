/* The column list of nf_read_options: "0-9", "1,3,5-7". Indices are
 * 0-based, ranges inclusive and ascending, spaces around items allowed; the
 * selection keeps the order written; a column selected twice is refused. */
#include "data/columns.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"

#define DIO_MAX_INDEX ((size_t)1 << 40)

static int is_space(char c) { return c == ' ' || c == '\t'; }

/* Reads a non-negative decimal number at *p; 0 when there is none or it is
 * absurdly large. */
static int read_index(const char **p, size_t *v)
{
    const char *s = *p;
    size_t x = 0;
    if (*s < '0' || *s > '9')
        return 0;
    while (*s >= '0' && *s <= '9') {
        x = x * 10 + (size_t)(*s - '0');
        if (x > DIO_MAX_INDEX)
            return 0;
        s++;
    }
    *p = s;
    *v = x;
    return 1;
}

static nf_status malformed(const char *path, const char *text, const char *why)
{
    return nf_fail(NF_ERR_INVALID, "%s: columns \"%s\": %s (expected e.g. \"0-9\" or \"1,3,5-7\", 0-based)", path,
                   text, why);
}

nf_status dio_colspec_parse(const char *path, const char *text, dio_colspec *cs)
{
    memset(cs, 0, sizeof *cs);
    if (!text)
        return NF_OK;
    cs->text = text;
    size_t items = 1;
    for (const char *q = text; *q; q++)
        items += *q == ',';
    cs->lo = malloc(items * sizeof *cs->lo);
    cs->hi = malloc(items * sizeof *cs->hi);
    if (!cs->lo || !cs->hi) {
        dio_colspec_free(cs);
        return nf_fail(NF_ERR_NOMEM, "%s: out of memory", path);
    }
    const char *p = text;
    for (;;) {
        while (is_space(*p))
            p++;
        size_t lo, hi;
        if (!read_index(&p, &lo)) {
            nf_status st = malformed(path, text, *p == '-' ? "negative or missing column index"
                                                            : (*p == ',' || !*p) ? "empty item"
                                                                                 : "not a column index");
            dio_colspec_free(cs);
            return st;
        }
        hi = lo;
        while (is_space(*p))
            p++;
        if (*p == '-') {
            p++;
            while (is_space(*p))
                p++;
            if (!read_index(&p, &hi)) {
                nf_status st = malformed(path, text, "a range lacks its end");
                dio_colspec_free(cs);
                return st;
            }
            if (hi < lo) {
                nf_status st = malformed(path, text, "a range goes down");
                dio_colspec_free(cs);
                return st;
            }
            while (is_space(*p))
                p++;
        }
        cs->lo[cs->n] = lo;
        cs->hi[cs->n] = hi;
        cs->n++;
        if (*p == ',') {
            p++;
            continue;
        }
        if (*p) {
            nf_status st = malformed(path, text, "unexpected character");
            dio_colspec_free(cs);
            return st;
        }
        break;
    }
    return NF_OK;
}

void dio_colspec_free(dio_colspec *cs)
{
    free(cs->lo);
    free(cs->hi);
    memset(cs, 0, sizeof *cs);
}

nf_status dio_colspec_resolve(const char *path, const dio_colspec *cs, size_t ncols, size_t **idx, size_t *nsel)
{
    *idx = NULL;
    *nsel = 0;
    if (!cs->text) {
        size_t *v = malloc((ncols ? ncols : 1) * sizeof *v);
        if (!v)
            return nf_fail(NF_ERR_NOMEM, "%s: out of memory", path);
        for (size_t j = 0; j < ncols; j++)
            v[j] = j;
        *idx = v;
        *nsel = ncols;
        return NF_OK;
    }
    size_t total = 0;
    for (size_t i = 0; i < cs->n; i++) {
        if (cs->hi[i] >= ncols) {
            size_t bad = cs->lo[i] >= ncols ? cs->lo[i] : ncols;
            return nf_fail(NF_ERR_INVALID, "%s: columns \"%s\": column %zu is out of range: the file has %zu columns (0-%zu)",
                           path, cs->text, bad, ncols, ncols ? ncols - 1 : 0);
        }
        total += cs->hi[i] - cs->lo[i] + 1;
        if (total > ncols)
            break; /* a repeat, found below */
    }
    unsigned char *seen = calloc(ncols ? ncols : 1, 1);
    size_t *v = malloc((total < ncols ? total : ncols) * sizeof *v + sizeof *v);
    if (!seen || !v) {
        free(seen);
        free(v);
        return nf_fail(NF_ERR_NOMEM, "%s: out of memory", path);
    }
    size_t n = 0;
    for (size_t i = 0; i < cs->n; i++) {
        for (size_t j = cs->lo[i]; j <= cs->hi[i]; j++) {
            if (seen[j]) {
                free(seen);
                free(v);
                return nf_fail(NF_ERR_INVALID, "%s: columns \"%s\": column %zu is selected twice", path, cs->text, j);
            }
            seen[j] = 1;
            v[n++] = j;
        }
    }
    free(seen);
    *idx = v;
    *nsel = n;
    return NF_OK;
}
