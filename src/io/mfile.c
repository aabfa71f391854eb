#define _DEFAULT_SOURCE /* MAP_POPULATE */
/* The model-file container. The byte layout is specified in
 * docs/model-format.md; keep the two in step. Everything is packed and
 * unpacked byte by byte (little-endian, IEEE 754), never by dumping structs,
 * so a file is the same on every platform. */
#include "io/mfile.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <libdeflate.h>

#include "io/atomic_file.h"
#include "core/error.h"

_Static_assert(sizeof(float) == 4 && sizeof(double) == 8, "nflow model files need 32- and 64-bit floats");

#define MF_MAGIC "NFLOWMDL"
#define MF_END_MAGIC "NFLOWEND"
#define MF_VERSION 1u
#define MF_HEADER_SIZE 48u
#define MF_TRAILER_SIZE 12u
#define MF_NAME_MAX 31u
#define MF_STR_MAX ((uint64_t)1 << 20)
#define MF_BYTE_ORDER_CHECK 0x01020304u
#define MF_F32_CHECK_BITS 0xBFC00000u                   /* -1.5f */
#define MF_F64_CHECK_BITS UINT64_C(0x3FD5555555555555) /* 1.0 / 3.0 */
/* The smallest encodings: a section with a 1-byte tag and no values, a
 * value with a 1-byte key and no data (empty string or array). */
#define MF_MIN_SECTION 6u
#define MF_MIN_VALUE 11u

static const unsigned char mf_eol_check[4] = {0x0D, 0x0A, 0x1A, 0x0A};

enum { MF_I64 = 1, MF_F64 = 2, MF_STR = 3, MF_F32S = 4, MF_F64S = 5, MF_I32S = 6 };

/* Name (in messages), element size in bytes (0: scalar, 1: string bytes). */
static const struct {
    const char *name;
    size_t size;
} mf_types[7] = {
    {"?", 0}, {"i64", 8}, {"f64", 8}, {"str", 1}, {"f32[]", 4}, {"f64[]", 8}, {"i32[]", 4},
};

/* ---- little-endian packing ---------------------------------------------- */

static void put_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void put_u64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_u32(const unsigned char *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static uint64_t get_u64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static int host_is_little_endian(void)
{
    const uint32_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

/* n elements of `size` (4 or 8) bytes from native memory to little-endian
 * bytes and back; bit patterns (signed zeros, denormals, NaNs) are kept. */
static void encode_words(unsigned char *dst, const void *src, size_t n, size_t size)
{
    if (n == 0)
        return;
    if (host_is_little_endian()) {
        memcpy(dst, src, n * size);
        return;
    }
    const unsigned char *s = src;
    for (size_t i = 0; i < n; i++) {
        if (size == 4) {
            uint32_t w;
            memcpy(&w, s + 4 * i, 4);
            put_u32(dst + 4 * i, w);
        } else {
            uint64_t w;
            memcpy(&w, s + 8 * i, 8);
            put_u64(dst + 8 * i, w);
        }
    }
}

static void decode_words(void *dst, const unsigned char *src, size_t n, size_t size)
{
    if (n == 0)
        return;
    if (host_is_little_endian()) {
        memcpy(dst, src, n * size);
        return;
    }
    unsigned char *d = dst;
    for (size_t i = 0; i < n; i++) {
        if (size == 4) {
            uint32_t w = get_u32(src + 4 * i);
            memcpy(d + 4 * i, &w, 4);
        } else {
            uint64_t w = get_u64(src + 8 * i);
            memcpy(d + 8 * i, &w, 8);
        }
    }
}

/* The standard CRC-32 (zlib's, gzip's) by libdeflate: the same values at
 * 3x zlib's speed (a 7.2 MB model: 0.6 ms against 1.3-2.2 ms, a fifth of
 * `nflow sample --n 1` before). */
static uint32_t crc_update(uint32_t crc, const unsigned char *p, size_t n)
{
    return n ? libdeflate_crc32(crc, p, n) : crc; /* a NULL buffer would restart the CRC */
}

/* A tag or key: 1..31 bytes, each printable ASCII other than space. */
static int valid_name_bytes(const unsigned char *s, size_t n)
{
    if (n < 1 || n > MF_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] < 0x21 || s[i] > 0x7E)
            return 0;
    return 1;
}

static int valid_name(const char *s, size_t *len)
{
    size_t n = 0;
    while (n <= MF_NAME_MAX && s[n])
        n++;
    *len = n;
    return valid_name_bytes((const unsigned char *)s, n);
}

/* ---- writer -------------------------------------------------------------- */

struct mf_writer {
    unsigned char *buf; /* the payload: every section encoded so far */
    size_t len, cap;
    uint64_t nsections;
    int in_section;
    size_t count_off;   /* where the current section's value count lies */
    uint32_t nvalues;
    char (*keys)[MF_NAME_MAX + 1]; /* keys of the current section */
    size_t keys_cap;
};

mf_writer *mf_writer_new(void) { return calloc(1, sizeof(mf_writer)); }

void mf_writer_free(mf_writer *w)
{
    if (!w)
        return;
    free(w->buf);
    free(w->keys);
    free(w);
}

static nf_status reserve(mf_writer *w, size_t extra)
{
    if (extra > SIZE_MAX - w->len)
        return nf_fail(NF_ERR_NOMEM, "model file: payload too large");
    size_t need = w->len + extra;
    if (need <= w->cap)
        return NF_OK;
    size_t cap = w->cap ? w->cap : 4096;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    unsigned char *b = realloc(w->buf, cap);
    if (!b)
        return nf_fail(NF_ERR_NOMEM, "model file: out of memory (%zu bytes)", cap);
    w->buf = b;
    w->cap = cap;
    return NF_OK;
}

nf_status mf_begin(mf_writer *w, const char *tag)
{
    size_t n;
    if (!w || !tag)
        return nf_fail(NF_ERR_INVALID, "mf_begin: NULL argument");
    if (!valid_name(tag, &n))
        return nf_fail(NF_ERR_INVALID, "mf_begin: section tag '%.40s' is not 1..31 printable ASCII characters", tag);
    nf_status st = reserve(w, 1 + n + 4);
    if (st)
        return st;
    unsigned char *p = w->buf + w->len;
    p[0] = (unsigned char)n;
    memcpy(p + 1, tag, n);
    put_u32(p + 1 + n, 0);
    w->count_off = w->len + 1 + n;
    w->len += 1 + n + 4;
    w->nsections++;
    w->in_section = 1;
    w->nvalues = 0;
    return NF_OK;
}

/* Validates, makes room, writes key, type and count, and returns where the
 * `data_bytes` of data go. On failure nothing has changed. */
static nf_status put_begin(mf_writer *w, const char *fn, const char *key, int type, uint64_t count,
                           size_t data_bytes, unsigned char **data)
{
    size_t n;
    if (!w || !key)
        return nf_fail(NF_ERR_INVALID, "%s: NULL argument", fn);
    if (!w->in_section)
        return nf_fail(NF_ERR_INVALID, "%s: key '%.40s': no section begun (call mf_begin first)", fn, key);
    if (!valid_name(key, &n))
        return nf_fail(NF_ERR_INVALID, "%s: key '%.40s' is not 1..31 printable ASCII characters", fn, key);
    for (uint32_t i = 0; i < w->nvalues; i++)
        if (strcmp(w->keys[i], key) == 0)
            return nf_fail(NF_ERR_INVALID, "%s: key '%s' already in this section", fn, key);
    if (w->nvalues == UINT32_MAX)
        return nf_fail(NF_ERR_INVALID, "%s: key '%s': too many values in one section", fn, key);
    if (data_bytes > SIZE_MAX - (1 + n + 1 + 8))
        return nf_fail(NF_ERR_INVALID, "%s: key '%s': value too large", fn, key);
    if (w->nvalues >= w->keys_cap) {
        size_t cap = w->keys_cap ? 2 * w->keys_cap : 16;
        if (cap > SIZE_MAX / sizeof *w->keys)
            return nf_fail(NF_ERR_NOMEM, "%s: key '%s': out of memory", fn, key);
        void *k = realloc(w->keys, cap * sizeof *w->keys);
        if (!k)
            return nf_fail(NF_ERR_NOMEM, "%s: key '%s': out of memory", fn, key);
        w->keys = k;
        w->keys_cap = cap;
    }
    nf_status st = reserve(w, 1 + n + 1 + 8 + data_bytes);
    if (st)
        return st;
    unsigned char *p = w->buf + w->len;
    p[0] = (unsigned char)n;
    memcpy(p + 1, key, n);
    p[1 + n] = (unsigned char)type;
    put_u64(p + 2 + n, count);
    *data = p + 10 + n;
    w->len += 10 + n + data_bytes;
    memcpy(w->keys[w->nvalues], key, n + 1);
    w->nvalues++;
    put_u32(w->buf + w->count_off, w->nvalues);
    return NF_OK;
}

nf_status mf_put_i64(mf_writer *w, const char *key, int64_t v)
{
    unsigned char *d;
    nf_status st = put_begin(w, "mf_put_i64", key, MF_I64, 1, 8, &d);
    if (st)
        return st;
    uint64_t u;
    memcpy(&u, &v, 8); /* two's complement */
    put_u64(d, u);
    return NF_OK;
}

nf_status mf_put_f64(mf_writer *w, const char *key, double v)
{
    unsigned char *d;
    nf_status st = put_begin(w, "mf_put_f64", key, MF_F64, 1, 8, &d);
    if (st)
        return st;
    encode_words(d, &v, 1, 8);
    return NF_OK;
}

nf_status mf_put_str(mf_writer *w, const char *key, const char *s)
{
    if (!s)
        return nf_fail(NF_ERR_INVALID, "mf_put_str: key '%.40s': NULL string", key ? key : "(null)");
    size_t n = strlen(s);
    if (n > MF_STR_MAX)
        return nf_fail(NF_ERR_INVALID, "mf_put_str: key '%.40s': string of %zu bytes, the limit is %llu",
                       key ? key : "(null)", n, (unsigned long long)MF_STR_MAX);
    unsigned char *d;
    nf_status st = put_begin(w, "mf_put_str", key, MF_STR, n, n, &d);
    if (st)
        return st;
    if (n)
        memcpy(d, s, n);
    return NF_OK;
}

static nf_status put_array(mf_writer *w, const char *fn, const char *key, int type, const void *v, size_t n)
{
    size_t size = mf_types[type].size;
    if (!v && n)
        return nf_fail(NF_ERR_INVALID, "%s: key '%.40s': NULL array of %zu values", fn, key ? key : "(null)", n);
    if (n > SIZE_MAX / size || (uint64_t)n > UINT64_MAX / size)
        return nf_fail(NF_ERR_INVALID, "%s: key '%.40s': array of %zu values too large", fn, key ? key : "(null)", n);
    unsigned char *d;
    nf_status st = put_begin(w, fn, key, type, n, n * size, &d);
    if (st)
        return st;
    encode_words(d, v, n, size);
    return NF_OK;
}

nf_status mf_put_f32s(mf_writer *w, const char *key, const float *v, size_t n)
{
    return put_array(w, "mf_put_f32s", key, MF_F32S, v, n);
}

nf_status mf_put_f64s(mf_writer *w, const char *key, const double *v, size_t n)
{
    return put_array(w, "mf_put_f64s", key, MF_F64S, v, n);
}

nf_status mf_put_i32s(mf_writer *w, const char *key, const int32_t *v, size_t n)
{
    return put_array(w, "mf_put_i32s", key, MF_I32S, v, n);
}

/* The header and trailer around the payload: counts, sizes, checksum. */
static void frame(const mf_writer *w, unsigned char head[MF_HEADER_SIZE], unsigned char tail[MF_TRAILER_SIZE])
{
    memcpy(head, MF_MAGIC, 8);
    put_u32(head + 8, MF_VERSION);
    put_u32(head + 12, MF_BYTE_ORDER_CHECK);
    put_u32(head + 16, MF_F32_CHECK_BITS);
    memcpy(head + 20, mf_eol_check, 4);
    put_u64(head + 24, MF_F64_CHECK_BITS);
    put_u64(head + 32, w->nsections);
    put_u64(head + 40, (uint64_t)w->len);
    uint32_t crc = crc_update(0, head, MF_HEADER_SIZE);
    crc = crc_update(crc, w->buf, w->len);
    put_u32(tail, crc);
    memcpy(tail + 4, MF_END_MAGIC, 8);
}

nf_status mf_writer_save(const mf_writer *w, const char *path)
{
    if (!w || !path)
        return nf_fail(NF_ERR_INVALID, "mf_writer_save: NULL argument");
    unsigned char head[MF_HEADER_SIZE], tail[MF_TRAILER_SIZE];
    frame(w, head, tail);
    atomic_file a;
    nf_status st = atomic_open(&a, path);
    if (st)
        return st;
    errno = 0;
    if (fwrite(head, 1, sizeof head, a.fp) != sizeof head || (w->len && fwrite(w->buf, 1, w->len, a.fp) != w->len) ||
        fwrite(tail, 1, sizeof tail, a.fp) != sizeof tail) {
        int e = errno;
        atomic_abort(&a);
        return nf_fail(NF_ERR_IO, "%s: write failed: %s", path, e ? strerror(e) : "short write");
    }
    return atomic_commit(&a);
}

nf_status mf_writer_bytes(const mf_writer *w, unsigned char **out, size_t *len)
{
    if (!w || !out || !len)
        return nf_fail(NF_ERR_INVALID, "mf_writer_bytes: NULL argument");
    *out = NULL;
    *len = 0;
    if (w->len > SIZE_MAX - MF_HEADER_SIZE - MF_TRAILER_SIZE)
        return nf_fail(NF_ERR_NOMEM, "model file: payload too large");
    size_t n = MF_HEADER_SIZE + w->len + MF_TRAILER_SIZE;
    unsigned char *b = malloc(n);
    if (!b)
        return nf_fail(NF_ERR_NOMEM, "out of memory for a model file of %zu bytes", n);
    frame(w, b, b + MF_HEADER_SIZE + w->len);
    if (w->len)
        memcpy(b + MF_HEADER_SIZE, w->buf, w->len);
    *out = b;
    *len = n;
    return NF_OK;
}

/* ---- reader -------------------------------------------------------------- */

typedef struct mf_value {
    char key[MF_NAME_MAX + 1];
    int type;
    uint64_t count; /* elements; string bytes; 1 for scalars */
    int64_t i;
    double d;
    void *data;     /* arrays (aligned, malloc'd) and strings (NUL-terminated) */
    const unsigned char *raw; /* a large array's bytes in the file image, decoded when asked for */
} mf_value;

struct mf_section {
    char tag[MF_NAME_MAX + 1];
    size_t index;
    size_t nvalues;
    mf_value *values;
};

struct mf_file {
    char *path;
    size_t nsections;
    mf_section *sections;
    unsigned char *image; /* the whole file: mapped (image_mapped) or read */
    size_t image_len;
    int image_mapped;
};

/* Arrays from this size on stay in the file image until asked for, so that
 * the parameters go from the page cache to their buffer in one copy. */
enum { LAZY_ARRAY_BYTES = 1 << 16 };

void mf_free(mf_file *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->nsections; i++) {
        mf_section *s = &f->sections[i];
        for (size_t j = 0; j < s->nvalues; j++)
            free(s->values[j].data);
        free(s->values);
    }
    free(f->sections);
    free(f->path);
    if (f->image_mapped)
        munmap(f->image, f->image_len);
    else
        free(f->image);
    free(f);
}

static nf_status read_all(const char *path, unsigned char **out, size_t *out_len, int *mapped)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return nf_fail(NF_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat kind;
    if (fstat(fileno(fp), &kind) == 0 && !S_ISREG(kind.st_mode)) { /* /dev/zero would be read forever */
        fclose(fp);
        return nf_fail(NF_ERR_IO, "%s: %s, not a model file", path,
                       S_ISDIR(kind.st_mode) ? "a folder" : "a device, pipe or special file");
    }
    size_t cap = 4096, len = 0;
    struct stat sb;
    *mapped = 0;
    /* a regular file is mapped: no copy, and the page cache's pages are
     * shared instead of faulted in one by one */
    if (fstat(fileno(fp), &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size > 0 &&
        (uintmax_t)sb.st_size < (uintmax_t)SIZE_MAX) {
        void *m = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fileno(fp), 0);
        if (m != MAP_FAILED) {
            fclose(fp);
            *out = m;
            *out_len = (size_t)sb.st_size;
            *mapped = 1;
            return NF_OK;
        }
    }
    if (fstat(fileno(fp), &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size > 0 &&
        (uintmax_t)sb.st_size < (uintmax_t)SIZE_MAX)
        cap = (size_t)sb.st_size + 1; /* +1: see the end without a second pass */
    unsigned char *buf = malloc(cap);
    if (!buf) {
        fclose(fp);
        return nf_fail(NF_ERR_NOMEM, "%s: out of memory reading %zu bytes", path, cap);
    }
    for (;;) {
        if (len == cap) {
            if (cap > SIZE_MAX / 2) {
                free(buf);
                fclose(fp);
                return nf_fail(NF_ERR_NOMEM, "%s: file too large", path);
            }
            unsigned char *b = realloc(buf, cap * 2);
            if (!b) {
                free(buf);
                fclose(fp);
                return nf_fail(NF_ERR_NOMEM, "%s: out of memory reading the file", path);
            }
            buf = b;
            cap *= 2;
        }
        size_t got = fread(buf + len, 1, cap - len, fp);
        len += got;
        if (got == 0 || len < cap) {
            if (ferror(fp)) {
                int e = errno;
                free(buf);
                fclose(fp);
                return nf_fail(NF_ERR_IO, "%s: cannot read: %s", path, strerror(e));
            }
            if (feof(fp))
                break;
        }
    }
    fclose(fp);
    *out = buf;
    *out_len = len;
    return NF_OK;
}

/* A cursor over the payload [pos, end) of the file image. */
typedef struct cursor {
    const char *path;
    const unsigned char *buf;
    size_t pos, end;
} cursor;

static size_t left(const cursor *c) { return c->end - c->pos; }

/* Checks that n bytes of `what` remain before touching them. */
static nf_status need(const cursor *c, uint64_t n, const char *what)
{
    if (n > left(c))
        return nf_fail(NF_ERR_FORMAT, "%s: byte %zu: %s needs %llu bytes but only %zu remain in the payload", c->path,
                       c->pos, what, (unsigned long long)n, left(c));
    return NF_OK;
}

/* A length-prefixed tag or key into name[32]. */
static nf_status read_name(cursor *c, const char *what, char *name)
{
    size_t at = c->pos;
    nf_status st = need(c, 1, what);
    if (st)
        return st;
    size_t n = c->buf[c->pos++];
    if (n < 1 || n > MF_NAME_MAX)
        return nf_fail(NF_ERR_FORMAT, "%s: byte %zu: %s length %zu is outside 1..31", c->path, at, what, n);
    if ((st = need(c, n, what)))
        return st;
    if (!valid_name_bytes(c->buf + c->pos, n))
        return nf_fail(NF_ERR_FORMAT, "%s: byte %zu: %s is not printable ASCII", c->path, at, what);
    memcpy(name, c->buf + c->pos, n);
    name[n] = '\0';
    c->pos += n;
    return NF_OK;
}

static int cmp_value_key(const void *a, const void *b)
{
    const mf_value *const *x = a, *const *y = b;
    return strcmp((*x)->key, (*y)->key);
}

static nf_status read_value(cursor *c, const mf_section *s, mf_value *v)
{
    size_t at = c->pos;
    nf_status st = read_name(c, "key", v->key);
    if (st)
        return st;
    if ((st = need(c, 9, "type and count")))
        return st;
    int type = c->buf[c->pos];
    uint64_t count = get_u64(c->buf + c->pos + 1);
    if (type < MF_I64 || type > MF_I32S)
        return nf_fail(NF_ERR_FORMAT, "%s: byte %zu: section %zu '%s': key '%s' has unknown type code %d", c->path,
                       c->pos, s->index, s->tag, v->key, type);
    c->pos += 9;
    v->type = type;
    v->count = count;
    size_t size = mf_types[type].size;
    if ((type == MF_I64 || type == MF_F64) && count != 1)
        return nf_fail(NF_ERR_FORMAT, "%s: byte %zu: section %zu '%s': scalar key '%s' has count %llu, expected 1",
                       c->path, at, s->index, s->tag, v->key, (unsigned long long)count);
    if (type == MF_STR && count > MF_STR_MAX)
        return nf_fail(NF_ERR_FORMAT, "%s: byte %zu: section %zu '%s': string '%s' of %llu bytes exceeds the %llu limit",
                       c->path, at, s->index, s->tag, v->key, (unsigned long long)count,
                       (unsigned long long)MF_STR_MAX);
    /* Division, not multiplication: a huge count cannot overflow here. */
    if (count > left(c) / size)
        return nf_fail(NF_ERR_FORMAT,
                       "%s: byte %zu: section %zu '%s': key '%s' announces %llu %s elements, but only %zu bytes remain",
                       c->path, at, s->index, s->tag, v->key, (unsigned long long)count, mf_types[type].name, left(c));
    size_t bytes = (size_t)count * size;
    const unsigned char *p = c->buf + c->pos;
    if (type == MF_I64) {
        uint64_t u = get_u64(p);
        memcpy(&v->i, &u, 8);
    } else if (type == MF_F64) {
        decode_words(&v->d, p, 1, 8);
    } else if (type == MF_STR) {
        if (memchr(p, 0, bytes))
            return nf_fail(NF_ERR_FORMAT, "%s: byte %zu: section %zu '%s': string '%s' contains a NUL byte", c->path,
                           at, s->index, s->tag, v->key);
        if (!(v->data = malloc(bytes + 1)))
            return nf_fail(NF_ERR_NOMEM, "%s: out of memory", c->path);
        if (bytes)
            memcpy(v->data, p, bytes);
        ((char *)v->data)[bytes] = '\0';
    } else if (bytes >= LAZY_ARRAY_BYTES) {
        v->raw = p;
    } else {
        /* malloc'd storage is aligned for every type; never point into the
         * file image, whose array data sit at arbitrary offsets. */
        if (!(v->data = malloc(bytes ? bytes : 1)))
            return nf_fail(NF_ERR_NOMEM, "%s: out of memory (%zu bytes for key '%s')", c->path, bytes, v->key);
        decode_words(v->data, p, (size_t)count, size);
    }
    c->pos += bytes;
    return NF_OK;
}

static nf_status read_section(cursor *c, mf_section *s)
{
    size_t at = c->pos;
    nf_status st = read_name(c, "section tag", s->tag);
    if (st)
        return st;
    if ((st = need(c, 4, "value count")))
        return st;
    uint32_t nv = get_u32(c->buf + c->pos);
    c->pos += 4;
    if (nv > left(c) / MF_MIN_VALUE)
        return nf_fail(NF_ERR_FORMAT, "%s: byte %zu: section %zu '%s' announces %lu values, more than the %zu bytes left can hold",
                       c->path, at, s->index, s->tag, (unsigned long)nv, left(c));
    if (nv == 0)
        return NF_OK;
    if (!(s->values = calloc(nv, sizeof *s->values)))
        return nf_fail(NF_ERR_NOMEM, "%s: out of memory", c->path);
    s->nvalues = nv;
    for (size_t j = 0; j < nv; j++)
        if ((st = read_value(c, s, &s->values[j])))
            return st;
    /* Duplicate keys would make the getters ambiguous: sort and compare. */
    const mf_value **sorted = malloc(nv * sizeof *sorted);
    if (!sorted)
        return nf_fail(NF_ERR_NOMEM, "%s: out of memory", c->path);
    for (size_t j = 0; j < nv; j++)
        sorted[j] = &s->values[j];
    qsort(sorted, nv, sizeof *sorted, cmp_value_key);
    for (size_t j = 1; j < nv; j++)
        if (strcmp(sorted[j - 1]->key, sorted[j]->key) == 0) {
            st = nf_fail(NF_ERR_FORMAT, "%s: byte %zu: section %zu '%s': key '%s' appears twice", c->path, at, s->index,
                         s->tag, sorted[j]->key);
            break;
        }
    free(sorted);
    return st;
}

static nf_status parse(const char *path, const unsigned char *buf, size_t len, mf_file *f)
{
    size_t m = len < 8 ? len : 8;
    if (memcmp(buf, MF_MAGIC, m) != 0)
        return nf_fail(NF_ERR_FORMAT, "%s: not an nflow model file (bad magic at byte 0)", path);
    if (len < MF_HEADER_SIZE)
        return nf_fail(NF_ERR_FORMAT, "%s: truncated: %zu bytes, the header alone takes %u", path, len,
                       MF_HEADER_SIZE);
    if (memcmp(buf + 20, mf_eol_check, 4) != 0)
        return nf_fail(NF_ERR_FORMAT, "%s: line-ending check bytes at byte 20 altered (transferred in text mode?)",
                       path);
    uint32_t order = get_u32(buf + 12);
    if (order != MF_BYTE_ORDER_CHECK)
        return nf_fail(NF_ERR_FORMAT,
                       "%s: byte-order check value at byte 12 reads 0x%08lx, expected 0x01020304 (written with another byte order?)",
                       path, (unsigned long)order);
    uint32_t b32 = get_u32(buf + 16);
    uint64_t b64 = get_u64(buf + 24);
    if (b32 != MF_F32_CHECK_BITS)
        return nf_fail(NF_ERR_FORMAT, "%s: float32 check value at byte 16 is 0x%08lx, expected 0xbfc00000 (-1.5)",
                       path, (unsigned long)b32);
    if (b64 != MF_F64_CHECK_BITS)
        return nf_fail(NF_ERR_FORMAT,
                       "%s: float64 check value at byte 24 is 0x%016llx, expected 0x3fd5555555555555 (1/3)", path,
                       (unsigned long long)b64);
    /* The file is right; does this machine read IEEE 754 the same way? */
    float f32;
    double f64;
    static const double third = 1.0 / 3.0;
    decode_words(&f32, buf + 16, 1, 4);
    decode_words(&f64, buf + 24, 1, 8);
    if (f32 != -1.5f || f64 != third)
        return nf_fail(NF_ERR_UNSUPPORTED, "%s: this machine does not use IEEE 754 floats", path);
    uint32_t version = get_u32(buf + 8);
    if (version > MF_VERSION)
        return nf_fail(NF_ERR_UNSUPPORTED, "%s: format version %lu, made by a newer nflow (this one reads up to %u)",
                       path, (unsigned long)version, MF_VERSION);
    if (version == 0)
        return nf_fail(NF_ERR_FORMAT, "%s: invalid format version 0 at byte 8", path);
    uint64_t nsec = get_u64(buf + 32);
    uint64_t plen = get_u64(buf + 40);
    size_t after = len - MF_HEADER_SIZE; /* payload and trailer */
    if (after < MF_TRAILER_SIZE || plen > after - MF_TRAILER_SIZE)
        return nf_fail(NF_ERR_FORMAT,
                       "%s: truncated: the header announces %llu payload bytes and a %u-byte trailer, %zu bytes follow it",
                       path, (unsigned long long)plen, MF_TRAILER_SIZE, after);
    if (plen < after - MF_TRAILER_SIZE)
        return nf_fail(NF_ERR_FORMAT, "%s: %llu stray bytes after the end marker at byte %llu", path,
                       (unsigned long long)(after - MF_TRAILER_SIZE - plen),
                       (unsigned long long)(MF_HEADER_SIZE + plen + MF_TRAILER_SIZE));
    size_t end = MF_HEADER_SIZE + (size_t)plen;
    uint32_t stored = get_u32(buf + end);
    uint32_t crc = crc_update(0, buf, end);
    if (stored != crc)
        return nf_fail(NF_ERR_CHECKSUM, "%s: checksum mismatch (stored 0x%08lx at byte %zu, computed 0x%08lx): the file is corrupted",
                       path, (unsigned long)stored, end, (unsigned long)crc);
    if (memcmp(buf + end + 4, MF_END_MAGIC, 8) != 0)
        return nf_fail(NF_ERR_FORMAT, "%s: bad end marker at byte %zu", path, end + 4);

    if (nsec > plen / MF_MIN_SECTION)
        return nf_fail(NF_ERR_FORMAT, "%s: the header announces %llu sections, more than %llu payload bytes can hold",
                       path, (unsigned long long)nsec, (unsigned long long)plen);
    if (nsec) {
        if (!(f->sections = calloc((size_t)nsec, sizeof *f->sections)))
            return nf_fail(NF_ERR_NOMEM, "%s: out of memory", path);
        f->nsections = (size_t)nsec;
    }
    cursor c = {path, buf, MF_HEADER_SIZE, end};
    for (size_t i = 0; i < f->nsections; i++) {
        f->sections[i].index = i;
        nf_status st = read_section(&c, &f->sections[i]);
        if (st)
            return st;
    }
    if (c.pos != end)
        return nf_fail(NF_ERR_FORMAT, "%s: byte %zu: %zu bytes after the last of %zu sections", path, c.pos, end - c.pos,
                       f->nsections);
    return NF_OK;
}

/* An mf_file over the image buf (mapped, or malloc'd and now owned),
 * parsed; messages name `name`. buf is released on failure. */
static nf_status adopt(const char *name, unsigned char *buf, size_t len, int mapped, mf_file **out)
{
    mf_file *f = calloc(1, sizeof *f);
    size_t plen = strlen(name);
    if (!f || !(f->path = malloc(plen + 1))) {
        free(f);
        if (mapped)
            munmap(buf, len);
        else
            free(buf);
        return nf_fail(NF_ERR_NOMEM, "%s: out of memory", name);
    }
    memcpy(f->path, name, plen + 1);
    f->image = buf;
    f->image_len = len;
    f->image_mapped = mapped;
    nf_status st = parse(name, buf, len, f);
    if (st) {
        mf_free(f);
        return st;
    }
    *out = f;
    return NF_OK;
}

nf_status mf_read(const char *path, mf_file **out)
{
    if (!out)
        return nf_fail(NF_ERR_INVALID, "mf_read: NULL argument");
    *out = NULL;
    if (!path)
        return nf_fail(NF_ERR_INVALID, "mf_read: NULL path");
    unsigned char *buf = NULL;
    size_t len = 0;
    int mapped = 0;
    nf_status st = read_all(path, &buf, &len, &mapped);
    return st ? st : adopt(path, buf, len, mapped, out);
}

nf_status mf_read_bytes(const char *name, const void *bytes, size_t len, mf_file **out)
{
    if (!out)
        return nf_fail(NF_ERR_INVALID, "mf_read_bytes: NULL argument");
    *out = NULL;
    if (!name || (!bytes && len))
        return nf_fail(NF_ERR_INVALID, "mf_read_bytes: NULL argument");
    unsigned char *buf = malloc(len ? len : 1); /* a copy: large arrays are decoded from it later */
    if (!buf)
        return nf_fail(NF_ERR_NOMEM, "%s: out of memory for %zu bytes", name, len);
    if (len)
        memcpy(buf, bytes, len);
    return adopt(name, buf, len, 0, out);
}

const char *mf_path(const mf_file *f) { return f ? f->path : ""; }

size_t mf_section_count(const mf_file *f) { return f ? f->nsections : 0; }

const mf_section *mf_section_at(const mf_file *f, size_t i)
{
    return f && i < f->nsections ? &f->sections[i] : NULL;
}

const char *mf_section_tag(const mf_section *s) { return s ? s->tag : ""; }

static const mf_value *find_value(const mf_section *s, const char *key)
{
    for (size_t j = 0; j < s->nvalues; j++)
        if (strcmp(s->values[j].key, key) == 0)
            return &s->values[j];
    return NULL;
}

int mf_has(const mf_section *s, const char *key) { return s && key && find_value(s, key) != NULL; }

static nf_status lookup(const mf_file *f, const mf_section *s, const char *key, int type, const mf_value **out)
{
    if (!f || !s || !key)
        return nf_fail(NF_ERR_INVALID, "mf_get: NULL argument");
    const mf_value *v = find_value(s, key);
    if (!v)
        return nf_fail(NF_ERR_FORMAT, "%s: section %zu '%s': missing key '%s'", f->path, s->index, s->tag, key);
    if (v->type != type)
        return nf_fail(NF_ERR_FORMAT, "%s: section %zu '%s': key '%s' is %s, expected %s", f->path, s->index, s->tag,
                       key, mf_types[v->type].name, mf_types[type].name);
    *out = v;
    return NF_OK;
}

nf_status mf_get_i64(const mf_file *f, const mf_section *s, const char *key, int64_t *v)
{
    const mf_value *x;
    nf_status st = lookup(f, s, key, MF_I64, &x);
    if (st)
        return st;
    *v = x->i;
    return NF_OK;
}

nf_status mf_get_f64(const mf_file *f, const mf_section *s, const char *key, double *v)
{
    const mf_value *x;
    nf_status st = lookup(f, s, key, MF_F64, &x);
    if (st)
        return st;
    *v = x->d;
    return NF_OK;
}

nf_status mf_get_str(const mf_file *f, const mf_section *s, const char *key, const char **v)
{
    const mf_value *x;
    nf_status st = lookup(f, s, key, MF_STR, &x);
    if (st)
        return st;
    *v = x->data;
    return NF_OK;
}

static nf_status get_array(const mf_file *f, const mf_section *s, const char *key, int type, size_t n,
                           const void **v, size_t *count)
{
    const mf_value *x;
    nf_status st = lookup(f, s, key, type, &x);
    if (st)
        return st;
    if (n != (size_t)-1 && x->count != (uint64_t)n)
        return nf_fail(NF_ERR_FORMAT, "%s: section %zu '%s': key '%s' has %llu values, expected %zu", f->path,
                       s->index, s->tag, key, (unsigned long long)x->count, n);
    if (!x->data && x->raw) { /* a large array asked for by pointer: decoded once, kept */
        mf_value *lazy = (mf_value *)x;
        size_t size = mf_types[type].size;
        if (!(lazy->data = malloc((size_t)x->count * size)))
            return nf_fail(NF_ERR_NOMEM, "%s: out of memory (%llu values of key '%s')", f->path,
                           (unsigned long long)x->count, key);
        decode_words(lazy->data, x->raw, (size_t)x->count, size);
    }
    *v = x->data;
    if (count)
        *count = (size_t)x->count;
    return NF_OK;
}

nf_status mf_get_f32s(const mf_file *f, const mf_section *s, const char *key, size_t n, const float **v,
                      size_t *count)
{
    const void *p = NULL;
    nf_status st = get_array(f, s, key, MF_F32S, n, &p, count);
    if (!st)
        *v = p;
    return st;
}

nf_status mf_get_f64s(const mf_file *f, const mf_section *s, const char *key, size_t n, const double **v,
                      size_t *count)
{
    const void *p = NULL;
    nf_status st = get_array(f, s, key, MF_F64S, n, &p, count);
    if (!st)
        *v = p;
    return st;
}

nf_status mf_get_i32s(const mf_file *f, const mf_section *s, const char *key, size_t n, const int32_t **v,
                      size_t *count)
{
    const void *p = NULL;
    nf_status st = get_array(f, s, key, MF_I32S, n, &p, count);
    if (!st)
        *v = p;
    return st;
}

nf_status mf_count_f32s(const mf_file *f, const mf_section *s, const char *key, size_t *count)
{
    const mf_value *x;
    nf_status st = lookup(f, s, key, MF_F32S, &x);
    if (!st)
        *count = (size_t)x->count;
    return st;
}

nf_status mf_copy_f32s(const mf_file *f, const mf_section *s, const char *key, size_t n, float *dst)
{
    const mf_value *x;
    nf_status st = lookup(f, s, key, MF_F32S, &x);
    if (st)
        return st;
    if (x->count != (uint64_t)n)
        return nf_fail(NF_ERR_FORMAT, "%s: section %zu '%s': key '%s' has %llu values, expected %zu", f->path,
                       s->index, s->tag, key, (unsigned long long)x->count, n);
    if (x->data)
        memcpy(dst, x->data, sizeof(float) * n);
    else
        decode_words(dst, x->raw, n, 4);
    return NF_OK;
}

/* ---- dump ------------------------------------------------------------------ */

typedef struct outbuf {
    char *buf;
    size_t size, len;
} outbuf;

static void out(outbuf *o, const char *fmt, ...) NF_PRINTF(2, 3);
static void out(outbuf *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = o->len < o->size ? vsnprintf(o->buf + o->len, o->size - o->len, fmt, ap) : vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n > 0)
        o->len += (size_t)n;
}

/* The shortest of %.15g..%.17g that reads back as the same double. */
static void format_double(char *s, size_t size, double d)
{
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(s, size, "%.*g", prec, d);
        if (strtod(s, NULL) == d)
            return;
    }
}

size_t mf_dump(const mf_file *f, char *buf, size_t size)
{
    outbuf o = {buf, buf ? size : 0, 0};
    if (o.size)
        o.buf[0] = '\0';
    if (!f)
        return 0;
    for (size_t i = 0; i < f->nsections; i++) {
        const mf_section *s = &f->sections[i];
        out(&o, "[%zu] %s\n", i, s->tag);
        for (size_t j = 0; j < s->nvalues; j++) {
            const mf_value *v = &s->values[j];
            char num[40];
            switch (v->type) {
            case MF_I64:
                out(&o, "  %s: i64 = %lld\n", v->key, (long long)v->i);
                break;
            case MF_F64:
                format_double(num, sizeof num, v->d);
                out(&o, "  %s: f64 = %s\n", v->key, num);
                break;
            case MF_STR: {
                const unsigned char *p = v->data;
                size_t shown = v->count > 60 ? 60 : (size_t)v->count;
                out(&o, "  %s: str = \"", v->key);
                for (size_t k = 0; k < shown; k++) {
                    if (p[k] == '"' || p[k] == '\\')
                        out(&o, "\\%c", p[k]);
                    else if (p[k] >= 0x20 && p[k] < 0x7F)
                        out(&o, "%c", p[k]);
                    else if (p[k] == '\n')
                        out(&o, "\\n");
                    else
                        out(&o, "\\x%02x", p[k]);
                }
                if (shown < v->count)
                    out(&o, "\"... (%llu bytes)\n", (unsigned long long)v->count);
                else
                    out(&o, "\"\n");
                break;
            }
            default:
                out(&o, "  %s: %.3s[%llu]\n", v->key, mf_types[v->type].name, (unsigned long long)v->count);
                break;
            }
        }
    }
    return o.len;
}
