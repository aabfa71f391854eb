/* IDX: a 4-byte magic (0, 0, the element type, the number of dimensions),
 * each dimension a big-endian uint32, then the values big-endian in C
 * order. Read through zlib's gz calls, which read a plain file as it is.
 * A gzipped file's size says nothing of its contents, so the values are
 * read in chunks and stored as they come: a header that claims more than
 * the file holds costs no more memory than the file's values. */
#include "data/idx.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "core/error.h"
#include "data/data_common.h"

enum { IDX_CHUNK = 1 << 16 };
/* A row's values at most: a gzipped file's header cannot be checked
 * against its size, and a column list needs a flag per column. */
enum { MAX_ROW_VALUES = 1 << 26 };

/* The element's size for a type code (0: unknown) and its name. */
static int type_size(int code, const char **name)
{
    switch (code) {
    case 0x08: *name = "uint8"; return 1;
    case 0x09: *name = "int8"; return 1;
    case 0x0B: *name = "int16"; return 2;
    case 0x0C: *name = "int32"; return 4;
    case 0x0D: *name = "float32"; return 4;
    case 0x0E: *name = "float64"; return 8;
    default: *name = "?"; return 0;
    }
}

int dio_is_idx(const char *path)
{
    gzFile g = gzopen(path, "rb");
    unsigned char head[4];
    const char *name;
    int yes = g && gzread(g, head, 4) == 4 && head[0] == 0 && head[1] == 0 && type_size(head[2], &name) &&
              head[3] >= 1 && head[3] <= 4;
    if (g)
        gzclose(g);
    return yes;
}

static uint64_t big_endian(const unsigned char *b, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | b[i];
    return v;
}

/* One value of `size` bytes of type `code`, big-endian. */
static double value_of(const unsigned char *b, int code, int size)
{
    uint64_t u = big_endian(b, size);
    switch (code) {
    case 0x08: return (double)u;
    case 0x09: return (double)(int8_t)u;
    case 0x0B: return (double)(int16_t)u;
    case 0x0C: return (double)(int32_t)u;
    case 0x0D: {
        uint32_t w = (uint32_t)u;
        float f;
        memcpy(&f, &w, sizeof f);
        return f;
    }
    default: {
        double d;
        memcpy(&d, &u, sizeof d);
        return d;
    }
    }
}

/* A selected column: its index in the file and among those selected. */
typedef struct chosen {
    size_t col, k;
} chosen;

static int by_column(const void *a, const void *b)
{
    size_t x = ((const chosen *)a)->col, y = ((const chosen *)b)->col;
    return x < y ? -1 : x > y;
}

/* Column col's index among the selected (sorted by column; n of them), or n. */
static size_t place_of(const chosen *sel, size_t n, size_t col)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (sel[mid].col < col)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && sel[lo].col == col ? sel[lo].k : n;
}

/* sel: the selected columns sorted by column (NULL: all, in order; a
 * lookup rather than a table of every column: a header may claim 2^32). */
static nf_status read_values(gzFile g, const char *path, const char *tname, int code, int size, uint64_t rows,
                             uint64_t cols, const chosen *sel, size_t nsel, nf_matrix *out)
{
    size_t cap = 0, total = (size_t)rows * nsel;
    unsigned char *chunk = malloc((size_t)IDX_CHUNK * size);
    if (!chunk)
        return nf_fail(NF_ERR_NOMEM, "%s: out of memory", path);
    uint64_t n = rows * cols, done = 0;
    nf_status st = NF_OK;
    while (!st && done < n) {
        uint64_t want = n - done < IDX_CHUNK ? n - done : IDX_CHUNK;
        int got = gzread(g, chunk, (unsigned)(want * size));
        if (got < (int)(want * size)) {
            int err;
            const char *why = gzerror(g, &err);
            st = err && err != Z_STREAM_END && err != Z_BUF_ERROR
                     ? nf_fail(NF_ERR_FORMAT, "%s: %s", path, why)
                     : nf_fail(NF_ERR_FORMAT, "%s: truncated: header says %llu x %llu %s values, file holds %llu",
                               path, (unsigned long long)rows, (unsigned long long)cols, tname,
                               (unsigned long long)(done + (got > 0 ? (uint64_t)got / size : 0)));
            break;
        }
        for (uint64_t i = 0; i < want && !st; i++) {
            uint64_t at = done + i, row = at / cols, col = at % cols;
            size_t k = sel ? place_of(sel, nsel, (size_t)col) : (size_t)col;
            if (k == nsel)
                continue;
            double v = value_of(chunk + i * size, code, size);
            float f;
            int why = dio_to_float(v, &f);
            if (why != DIO_FLOAT_OK) {
                st = nf_fail(NF_ERR_NONFINITE, "%s: row %llu, column %llu: %s", path, (unsigned long long)row + 1,
                             (unsigned long long)col, why == DIO_FLOAT_NAN ? "NaN" : "not finite in float32");
                break;
            }
            size_t at_out = (size_t)row * nsel + k;
            if (at_out >= cap) { /* grown as values arrive */
                size_t grow = cap ? cap * 2 : (size_t)IDX_CHUNK;
                grow = grow < at_out + 1 ? at_out + 1 : grow;
                grow = grow > total ? total : grow;
                float *more = realloc(out->values, grow * sizeof(float));
                if (!more) {
                    st = nf_fail(NF_ERR_NOMEM, "%s: out of memory for %llu x %zu values", path,
                                 (unsigned long long)rows, nsel);
                    break;
                }
                out->values = more;
                cap = grow;
            }
            out->values[at_out] = f;
        }
        done += want;
    }
    if (!st && gzread(g, chunk, 1) > 0)
        st = nf_fail(NF_ERR_FORMAT, "%s: unexpected bytes after the %llu x %llu %s values", path,
                     (unsigned long long)rows, (unsigned long long)cols, tname);
    free(chunk);
    return st;
}

nf_status dio_read_idx(const char *path, const dio_colspec *cs, nf_matrix *out, int image[3])
{
    gzFile g = gzopen(path, "rb");
    if (!g)
        return nf_fail(NF_ERR_IO, "%s: cannot open", path);
    unsigned char head[4 + 4 * 4];
    const char *tname = "?";
    nf_status st = NF_OK;
    int code = 0, size = 0, ndim = 0;
    if (gzread(g, head, 4) != 4 || head[0] || head[1] || !(size = type_size(code = head[2], &tname)) ||
        (ndim = head[3]) < 1 || ndim > 4)
        st = nf_fail(NF_ERR_FORMAT, "%s: not an IDX file (its first 4 bytes are not 0, 0, a type, 1 to 4 "
                     "dimensions)", path);
    if (!st && gzread(g, head + 4, 4 * ndim) != 4 * ndim)
        st = nf_fail(NF_ERR_FORMAT, "%s: truncated in its %d dimensions", path, ndim);
    uint64_t rows = 0, cols = 1;
    for (int k = 0; !st && k < ndim; k++) {
        uint64_t dk = big_endian(head + 4 + 4 * k, 4);
        if (k == 0)
            rows = dk;
        else
            cols *= dk; /* below 2^32 times at most MAX_ROW_VALUES: checked at each factor, it cannot wrap */
        if (dk == 0)
            st = nf_fail(NF_ERR_FORMAT, "%s: dimension %d is 0: no %s", path, k, k ? "columns" : "data rows");
        else if (cols > MAX_ROW_VALUES)
            st = nf_fail(NF_ERR_FORMAT, "%s: rows of %llu%s values: more than this reader takes (%d; 4096 x 4096 x 4 "
                         "images)", path, (unsigned long long)cols, k + 1 < ndim ? " or more" : "", MAX_ROW_VALUES);
    }
    if (!st && (cols > SIZE_MAX / sizeof(float) || rows > SIZE_MAX / sizeof(float) / cols))
        st = nf_fail(NF_ERR_NOMEM, "%s: %llu x %llu values: too large for this machine", path,
                     (unsigned long long)rows, (unsigned long long)cols);
    size_t *idx = NULL, nsel = 0;
    chosen *sel = NULL;
    if (!st && !cs->text) /* every column: no list to resolve (a header may claim 2^64 of them) */
        nsel = (size_t)cols;
    else if (!st)
        st = dio_colspec_resolve(path, cs, (size_t)cols, &idx, &nsel);
    if (!st && cs->text) { /* a column list: where each column goes */
        if (!(sel = malloc(sizeof *sel * (nsel ? nsel : 1))))
            st = nf_fail(NF_ERR_NOMEM, "%s: out of memory", path);
        for (size_t k = 0; sel && k < nsel; k++)
            sel[k] = (chosen){idx[k], k};
        if (sel)
            qsort(sel, nsel, sizeof *sel, by_column);
    }
    if (!st)
        st = read_values(g, path, tname, code, size, rows, cols, sel, nsel, out);
    free(idx);
    free(sel);
    gzclose(g);
    if (!st) {
        out->rows = (size_t)rows;
        out->cols = nsel;
    }
    if (!st && image && ndim >= 3) {
        image[0] = (int)big_endian(head + 8, 4);
        image[1] = (int)big_endian(head + 12, 4);
        image[2] = ndim == 4 ? (int)big_endian(head + 16, 4) : 1;
    }
    return st;
}
