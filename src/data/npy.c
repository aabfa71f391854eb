/* The .npy reader of nf_matrix_read.
 *
 * Format versions 1.0, 2.0 and 3.0; dtypes float32 and float64 in either
 * byte order ('<f4', '>f4', '<f8', '>f8'), and the signed and unsigned
 * integers of 1 to 8 bytes ('|i1', '<i8', '>u2', ..., what np.save writes
 * for integer arrays: counts and pixels are data too; beyond 2^24 they are
 * rounded to float32); shape (rows, cols), (n,) read as n x 1, or up to
 * four dimensions (images N x H x W x C), each row's values flattened in C
 * order; C order only. The file size is checked against the header before
 * anything is allocated, so a header claiming a huge shape costs nothing.
 * float64 values are rounded to float32; NaN, Inf and values beyond float32
 * are refused, naming their row (1-based, like CSV lines) and column (0-based,
 * as --columns counts). */
#include "data/npy.h"
#include "data/data_common.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "core/error.h"

#define NPY_MAX_HEADER ((size_t)1 << 20)
#define NPY_MAX_DIMS 32
#define NPY_CHUNK ((size_t)1 << 22)

typedef struct npy_header {
    char descr[32];
    int have_descr, have_order, have_shape;
    int fortran;
    int ndim;
    uint64_t shape[NPY_MAX_DIMS];
} npy_header;

/* ---- the header dictionary ------------------------------------------------ */

typedef struct npy_parser {
    const char *p, *end;
    const char *why;
} npy_parser;

static void skip_ws(npy_parser *ps)
{
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
        ps->p++;
}

static int expect(npy_parser *ps, char ch, const char *why)
{
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == ch) {
        ps->p++;
        return 1;
    }
    ps->why = why;
    return 0;
}

/* A Python string literal ('...' or "..."), without escapes, into buf. */
static int parse_string(npy_parser *ps, char *buf, size_t size)
{
    skip_ws(ps);
    if (ps->p >= ps->end || (*ps->p != '\'' && *ps->p != '"')) {
        ps->why = "expected a string";
        return 0;
    }
    char q = *ps->p++;
    size_t n = 0;
    while (ps->p < ps->end && *ps->p != q) {
        if (*ps->p == '\\') {
            ps->why = "escapes in strings are not supported";
            return 0;
        }
        if (n + 1 >= size) {
            ps->why = "string too long";
            return 0;
        }
        buf[n++] = *ps->p++;
    }
    if (ps->p >= ps->end) {
        ps->why = "unterminated string";
        return 0;
    }
    ps->p++;
    buf[n] = '\0';
    return 1;
}

static int parse_bool(npy_parser *ps, int *v)
{
    skip_ws(ps);
    size_t left = (size_t)(ps->end - ps->p);
    if (left >= 4 && memcmp(ps->p, "True", 4) == 0) {
        ps->p += 4;
        *v = 1;
        return 1;
    }
    if (left >= 5 && memcmp(ps->p, "False", 5) == 0) {
        ps->p += 5;
        *v = 0;
        return 1;
    }
    ps->why = "fortran_order is not True or False";
    return 0;
}

static int parse_shape(npy_parser *ps, npy_header *h)
{
    if (!expect(ps, '(', "shape is not a tuple"))
        return 0;
    h->ndim = 0;
    for (;;) {
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == ')') {
            ps->p++;
            return 1;
        }
        if (ps->p >= ps->end || *ps->p < '0' || *ps->p > '9') {
            ps->why = "shape holds something other than non-negative integers";
            return 0;
        }
        uint64_t v = 0;
        while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9') {
            uint64_t digit = (uint64_t)(*ps->p - '0');
            if (v > (UINT64_MAX - digit) / 10) {
                ps->why = "a dimension of the shape is too large";
                return 0;
            }
            v = v * 10 + digit;
            ps->p++;
        }
        if (ps->p < ps->end && (*ps->p == 'L' || *ps->p == 'l'))
            ps->p++; /* Python 2 long */
        if (h->ndim == NPY_MAX_DIMS) {
            ps->why = "too many dimensions";
            return 0;
        }
        h->shape[h->ndim++] = v;
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            continue;
        }
        if (ps->p < ps->end && *ps->p == ')') {
            ps->p++;
            return 1;
        }
        ps->why = "shape tuple is malformed";
        return 0;
    }
}

static int parse_dict(npy_parser *ps, npy_header *h)
{
    if (!expect(ps, '{', "the header is not a dictionary"))
        return 0;
    for (;;) {
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == '}') {
            ps->p++;
            break;
        }
        char key[32];
        if (!parse_string(ps, key, sizeof key))
            return 0;
        if (!expect(ps, ':', "expected ':' after a key"))
            return 0;
        skip_ws(ps);
        if (strcmp(key, "descr") == 0) {
            if (ps->p < ps->end && *ps->p != '\'' && *ps->p != '"') {
                snprintf(h->descr, sizeof h->descr, "(structured)");
                h->have_descr = 2;
                return 1; /* reported as an unsupported dtype */
            }
            if (!parse_string(ps, h->descr, sizeof h->descr))
                return 0;
            h->have_descr = 1;
        } else if (strcmp(key, "fortran_order") == 0) {
            if (!parse_bool(ps, &h->fortran))
                return 0;
            h->have_order = 1;
        } else if (strcmp(key, "shape") == 0) {
            if (!parse_shape(ps, h))
                return 0;
            h->have_shape = 1;
        } else {
            ps->why = "unexpected key";
            return 0;
        }
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            continue;
        }
        if (!expect(ps, '}', "expected ',' or '}'"))
            return 0;
        break;
    }
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\n' || *ps->p == '\r' || *ps->p == '\t' || *ps->p == '\0'))
        ps->p++;
    if (ps->p != ps->end) {
        ps->why = "text after the dictionary";
        return 0;
    }
    if (!h->have_descr || !h->have_order || !h->have_shape) {
        ps->why = !h->have_descr ? "no 'descr'" : !h->have_order ? "no 'fortran_order'" : "no 'shape'";
        return 0;
    }
    return 1;
}

/* ---- values ------------------------------------------------------------------ */

static uint32_t load32(const unsigned char *p, int swap)
{
    uint32_t v;
    memcpy(&v, p, 4);
    if (swap)
        v = (v >> 24) | ((v >> 8) & 0xff00u) | ((v << 8) & 0xff0000u) | (v << 24);
    return v;
}

static uint64_t load64(const unsigned char *p, int swap)
{
    uint64_t v;
    memcpy(&v, p, 8);
    if (swap) {
        uint64_t r = 0;
        for (int i = 0; i < 8; i++)
            r = (r << 8) | ((v >> (8 * i)) & 0xffu);
        v = r;
    }
    return v;
}

static nf_status bad_value(const char *path, size_t row, size_t col, double v, int why)
{
    if (why == DIO_FLOAT_NAN)
        return nf_fail(NF_ERR_NONFINITE, "%s: row %zu, column %zu: NaN", path, row + 1, col);
    if (why == DIO_FLOAT_INF)
        return nf_fail(NF_ERR_NONFINITE, "%s: row %zu, column %zu: %s", path, row + 1, col,
                       v < 0 ? "-Inf" : "Inf");
    return nf_fail(NF_ERR_NONFINITE, "%s: row %zu, column %zu: %g is too large for float32 (non-finite)", path,
                   row + 1, col, v);
}

/* An integer of `size` bytes (1, 2, 4, 8) in the file's byte order, signed or not. */
static double load_integer(const unsigned char *p, size_t size, int swap, int is_signed)
{
    uint64_t u = 0;
    for (size_t i = 0; i < size; i++) /* little-endian unless swapped: byte i is worth 256^i */
        u |= (uint64_t)p[swap ? size - 1 - i : i] << (8 * i);
    if (is_signed && size < 8 && (u >> (8 * size - 1)) & 1)
        u |= ~(uint64_t)0 << (8 * size); /* sign-extend */
    return is_signed ? (double)(int64_t)u : (double)u;
}

/* Converts `nrows` rows starting at file row `row0` from raw bytes of
 * `kind` ('f' float, 'i' signed, 'u' unsigned integers). */
static nf_status convert_rows(const char *path, const unsigned char *raw, size_t nrows, size_t row0, size_t cols,
                              char kind, size_t itemsize, int swap, const size_t *idx, size_t nsel, float *dst)
{
    size_t row_bytes = cols * itemsize;
    for (size_t r = 0; r < nrows; r++) {
        const unsigned char *src = raw + r * row_bytes;
        float *d = dst + r * nsel;
        for (size_t k = 0; k < nsel; k++) {
            const unsigned char *p = src + idx[k] * itemsize;
            double v;
            if (kind != 'f') {
                v = load_integer(p, itemsize, swap, kind == 'i');
            } else if (itemsize == 4) {
                uint32_t u = load32(p, swap);
                float f;
                memcpy(&f, &u, 4);
                v = f;
            } else {
                uint64_t u = load64(p, swap);
                memcpy(&v, &u, 8);
            }
            int why = dio_to_float(v, &d[k]);
            if (why != DIO_FLOAT_OK)
                return bad_value(path, row0 + r, idx[k], v, why);
        }
    }
    return NF_OK;
}

/* ---- the reader ----------------------------------------------------------------- */

static nf_status read_exact(FILE *fp, const char *path, void *buf, size_t n, const char *what)
{
    if (fread(buf, 1, n, fp) == n)
        return NF_OK;
    if (ferror(fp))
        return nf_fail(NF_ERR_IO, "%s: cannot read: %s", path, strerror(errno));
    return nf_fail(NF_ERR_FORMAT, "%s: truncated %s", path, what);
}

/* The data of a float32 file in host order, mapped rather than copied (a
 * data set larger than free memory trains from the page cache), then
 * checked for NaN and Inf. */
static nf_status map_npy(FILE *fp, const char *path, size_t size, size_t data_off, size_t rows, size_t cols,
                         nf_matrix *out)
{
    void *map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fileno(fp), 0);
    if (map == MAP_FAILED)
        return nf_fail(NF_ERR_IO, "%s: cannot map: %s", path, strerror(errno));
    out->mapping = map;
    out->mapping_bytes = size;
    out->values = (float *)((char *)map + data_off);
    posix_madvise(map, size, POSIX_MADV_SEQUENTIAL); /* the check below reads it front to back */
    size_t n = rows * cols;
    for (size_t i = 0; i < n; i++) {
        float v = out->values[i];
        if (v - v != 0.0f) {
            double d = v;
            return bad_value(path, i / cols, i % cols, d, d != d ? DIO_FLOAT_NAN : DIO_FLOAT_INF);
        }
    }
    posix_madvise(map, size, POSIX_MADV_NORMAL); /* training reads rows in shuffled order */
    out->rows = rows;
    out->cols = cols;
    return NF_OK;
}

static nf_status read_npy_file(FILE *fp, const char *path, const dio_colspec *cs, nf_matrix *out, size_t **idx_out,
                               unsigned char **chunk_out, char **hdr_out, int image[3])
{
    struct stat sb;
    if (fstat(fileno(fp), &sb) != 0)
        return nf_fail(NF_ERR_IO, "%s: cannot read: %s", path, strerror(errno));
    if (!S_ISREG(sb.st_mode))
        return nf_fail(NF_ERR_IO, "%s: not a regular file", path);
    uint64_t size = (uint64_t)sb.st_size;
    if (size == 0)
        return nf_fail(NF_ERR_FORMAT, "%s: empty file", path);

    unsigned char pre[12];
    size_t got = fread(pre, 1, sizeof pre, fp);
    if (got < sizeof pre && ferror(fp))
        return nf_fail(NF_ERR_IO, "%s: cannot read: %s", path, strerror(errno));
    if (got < 6 || memcmp(pre, "\x93NUMPY", 6) != 0)
        return nf_fail(NF_ERR_FORMAT, "%s: not a .npy file (bad magic)", path);
    if (got < 10)
        return nf_fail(NF_ERR_FORMAT, "%s: truncated header (%zu bytes)", path, got);
    int major = pre[6], minor = pre[7];
    size_t hlen, hoff;
    if (major == 1) {
        hlen = (size_t)pre[8] | (size_t)pre[9] << 8;
        hoff = 10;
    } else if (major == 2 || major == 3) {
        if (got < 12)
            return nf_fail(NF_ERR_FORMAT, "%s: truncated header (%zu bytes)", path, got);
        hlen = (size_t)pre[8] | (size_t)pre[9] << 8 | (size_t)pre[10] << 16 | (size_t)pre[11] << 24;
        hoff = 12;
    } else {
        return nf_fail(NF_ERR_FORMAT, "%s: unsupported .npy version %d.%d (1.0, 2.0 or 3.0)", path, major, minor);
    }
    if (hlen > NPY_MAX_HEADER)
        return nf_fail(NF_ERR_FORMAT, "%s: header of %zu bytes is too long", path, hlen);
    if (hoff + hlen > size)
        return nf_fail(NF_ERR_FORMAT, "%s: truncated header: it should take %zu bytes, the file has %llu", path,
                       hoff + hlen, (unsigned long long)size);
    char *hdr = malloc(hlen + 1);
    if (!hdr)
        return nf_fail(NF_ERR_NOMEM, "%s: out of memory", path);
    *hdr_out = hdr;
    if (fseek(fp, (long)hoff, SEEK_SET) != 0)
        return nf_fail(NF_ERR_IO, "%s: cannot read: %s", path, strerror(errno));
    nf_status st = read_exact(fp, path, hdr, hlen, "header");
    if (st != NF_OK)
        return st;
    hdr[hlen] = '\0';

    npy_header h;
    memset(&h, 0, sizeof h);
    npy_parser ps = {hdr, hdr + hlen, NULL};
    if (!parse_dict(&ps, &h)) {
        char q[120];
        return nf_fail(NF_ERR_FORMAT, "%s: malformed header (%s): %s", path, ps.why,
                       dio_quote(q, sizeof q, hdr, hlen));
    }
    size_t itemsize = 0;
    int big = 0;
    char kind = 0;
    if (h.have_descr == 1 && strlen(h.descr) == 3 && strchr("<>|", h.descr[0]) && strchr("fiu", h.descr[1]) &&
        strchr("1248", h.descr[2])) {
        kind = h.descr[1];
        itemsize = (size_t)(h.descr[2] - '0');
        big = h.descr[0] == '>';
        if ((kind == 'f' && itemsize < 4) || (h.descr[0] == '|') != (itemsize == 1))
            kind = 0; /* float16, or a byte order that does not fit the size */
    }
    if (!kind) {
        char q[40];
        return nf_fail(NF_ERR_FORMAT, "%s: unsupported dtype '%s' (float32, float64 or integers only)", path,
                       dio_quote(q, sizeof q, h.descr, strlen(h.descr)));
    }
    if (h.fortran)
        return nf_fail(NF_ERR_FORMAT, "%s: Fortran order not supported", path);
    if (h.ndim < 1 || h.ndim > 4)
        return nf_fail(NF_ERR_FORMAT, "%s: %d-D array not supported (1-D to 4-D: rows, then their values, "
                                      "e.g. images N x H x W x C)", path, h.ndim);
    uint64_t rows = h.shape[0], cols = 1; /* a row of an N-D array: its values flattened in C order */
    for (int k = 1; k < h.ndim; k++) {
        if (h.shape[k] && cols > UINT64_MAX / h.shape[k])
            return nf_fail(NF_ERR_FORMAT, "%s: a row of the shape's %d dimensions holds too many values", path,
                           h.ndim);
        cols *= h.shape[k];
    }
    if (h.ndim >= 3 && image) { /* N x H x W (x C): an image's height, width and channels */
        uint64_t c = h.ndim == 4 ? h.shape[3] : 1;
        if (h.shape[1] <= INT32_MAX && h.shape[2] <= INT32_MAX && c <= INT32_MAX) {
            image[0] = (int)h.shape[1];
            image[1] = (int)h.shape[2];
            image[2] = (int)c;
        }
    }
    char tname[16];
    snprintf(tname, sizeof tname, "%s%d", kind == 'f' ? "float" : kind == 'i' ? "int" : "uint", 8 * (int)itemsize);
    if (rows == 0)
        return nf_fail(NF_ERR_FORMAT, "%s: no data rows (shape has 0 rows)", path);
    if (cols == 0)
        return nf_fail(NF_ERR_FORMAT, "%s: no columns (shape has 0 columns)", path);

    uint64_t avail = size - hoff - hlen;
    uint64_t row_bytes = cols <= UINT64_MAX / itemsize ? cols * itemsize : UINT64_MAX;
    uint64_t file_rows = avail / row_bytes;
    if (rows > file_rows)
        return nf_fail(NF_ERR_FORMAT,
                       "%s: truncated: header says %llu x %llu %s values, file holds %llu rows (%llu data bytes)",
                       path, (unsigned long long)rows, (unsigned long long)cols, tname,
                       (unsigned long long)file_rows, (unsigned long long)avail);
    /* From here rows * row_bytes <= avail <= the file size: no overflow. */
    if (avail != rows * row_bytes)
        return nf_fail(NF_ERR_FORMAT, "%s: %llu unexpected bytes after the %llu x %llu %s values", path,
                       (unsigned long long)(avail - rows * row_bytes), (unsigned long long)rows,
                       (unsigned long long)cols, tname);
    if (rows > SIZE_MAX / row_bytes)
        return nf_fail(NF_ERR_NOMEM, "%s: too large for this machine", path);

    size_t *idx, nsel;
    st = dio_colspec_resolve(path, cs, (size_t)cols, &idx, &nsel);
    if (st != NF_OK)
        return st;
    *idx_out = idx;
    int swap = big == dio_host_little_endian();
    int as_is = kind == 'f' && itemsize == 4 && !swap; /* float32 in host order: no conversion */
    if (as_is && !cs->text && (hoff + hlen) % sizeof(float) == 0)
        return map_npy(fp, path, (size_t)size, hoff + hlen, (size_t)rows, (size_t)cols, out);

    float *values = malloc((size_t)rows * nsel * sizeof(float));
    if (!values)
        return nf_fail(NF_ERR_NOMEM, "%s: out of memory for %llu x %zu values", path, (unsigned long long)rows,
                       nsel);
    out->values = values;

    if (as_is && !cs->text) {
        /* Straight into place, then checked. */
        st = read_exact(fp, path, values, (size_t)rows * nsel * sizeof(float), "data");
        if (st != NF_OK)
            return st;
        size_t n = (size_t)rows * nsel;
        for (size_t i = 0; i < n; i++) {
            if (values[i] - values[i] != 0.0f) {
                double v = values[i];
                return bad_value(path, i / nsel, i % nsel, v, v != v ? DIO_FLOAT_NAN : DIO_FLOAT_INF);
            }
        }
    } else {
        size_t per = (size_t)(NPY_CHUNK / row_bytes);
        if (per == 0)
            per = 1;
        if (per > rows)
            per = (size_t)rows;
        unsigned char *chunk = malloc(per * (size_t)row_bytes);
        if (!chunk)
            return nf_fail(NF_ERR_NOMEM, "%s: out of memory", path);
        *chunk_out = chunk;
        for (size_t r = 0; r < rows; r += per) {
            size_t n = rows - r < per ? (size_t)rows - r : per;
            st = read_exact(fp, path, chunk, n * (size_t)row_bytes, "data");
            if (st != NF_OK)
                return st;
            st = convert_rows(path, chunk, n, r, (size_t)cols, kind, itemsize, swap, idx, nsel, values + r * nsel);
            if (st != NF_OK)
                return st;
        }
    }
    out->rows = (size_t)rows;
    out->cols = nsel;
    return NF_OK;
}

nf_status dio_read_npy(const char *path, const dio_colspec *cs, nf_matrix *out, int image[3])
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return nf_fail(NF_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    size_t *idx = NULL;
    unsigned char *chunk = NULL;
    char *hdr = NULL;
    nf_status st = read_npy_file(fp, path, cs, out, &idx, &chunk, &hdr, image);
    fclose(fp);
    free(idx);
    free(chunk);
    free(hdr);
    return st; /* on failure the caller frees out->values */
}
