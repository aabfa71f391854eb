/* The model-file container (src/io/mfile.c, docs/model-format.md): round trips,
 * the exact byte layout, getters' errors, and refusal of every truncation,
 * corruption and crafted length. */
#include <dirent.h>
#include <fcntl.h>
#include <float.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "flow/flow.h"
#include "harness.h"
#include "io/mfile.h"
#include "nflow.h"

static char tmpdir[64];

static const char *tpath(const char *name)
{
    static char buf[8][256];
    static int k;
    char *p = buf[k++ % 8];
    snprintf(p, 256, "%s/%s", tmpdir, name);
    return p;
}

/* Writes a file afresh. (Removing it first matters: ext4 flushes a file
 * that is truncated to zero and rewritten when it is closed, ~10 ms.) */
static void spit(const char *path, const unsigned char *b, size_t n)
{
    remove(path);
    FILE *fp = fopen(path, "wb");
    if (!fp)
        return;
    if (n)
        fwrite(b, 1, n, fp);
    fclose(fp);
}

static void le32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void le64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t rd64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

/* Rewrites the CRC of an (edited) file image whose payload length field is
 * still right, as a forger would. */
static void fix_crc(unsigned char *b, size_t n)
{
    size_t end = 48 + (size_t)rd64(b + 40);
    if (end + 4 > n)
        return;
    le32(b + end, (uint32_t)crc32(0L, b, (uInt)end));
}

static int count_tmp_files(void)
{
    int n = 0;
    DIR *d = opendir(tmpdir);
    if (!d)
        return -1;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".tmp."))
            n++;
    closedir(d);
    return n;
}

static int has(const char *needle) { return strstr(nf_last_error(), needle) != NULL; }

/* ---- a sample file with every type ---------------------------------------- */

static float f32_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static double f64_bits(uint64_t u)
{
    double d;
    memcpy(&d, &u, 8);
    return d;
}

static const float sample_f32[7] = {1.0f, -0.0f, FLT_TRUE_MIN, -FLT_MAX, 1.0f / 3.0f, INFINITY, 0.0f};
static const double sample_f64[5] = {-0.0, DBL_TRUE_MIN, DBL_MIN / 3, 0.1, -INFINITY};
static const int32_t sample_i32[4] = {INT32_MIN, INT32_MAX, -1, 0};
static const char sample_str[] = "h\xc3\xa9llo \"world\"\t\\ \x01\x7f\xff";

static float sample_f32_nan(void) { return f32_bits(0x7FC12345u); }
static double sample_f64_nan(void) { return f64_bits(UINT64_C(0xFFF8000000ABCDEF)); }

static mf_writer *sample_writer(void)
{
    mf_writer *w = mf_writer_new();
    float f32[8];
    memcpy(f32, sample_f32, sizeof sample_f32);
    f32[7] = sample_f32_nan();
    double f64[6];
    memcpy(f64, sample_f64, sizeof sample_f64);
    f64[5] = sample_f64_nan();
    int ok = w != NULL;
    ok = ok && mf_begin(w, "meta") == NF_OK;
    ok = ok && mf_put_i64(w, "n", -42) == NF_OK;
    ok = ok && mf_put_i64(w, "min", INT64_MIN) == NF_OK;
    ok = ok && mf_put_i64(w, "max", INT64_MAX) == NF_OK;
    ok = ok && mf_put_f64(w, "pi", 3.141592653589793) == NF_OK;
    ok = ok && mf_put_f64(w, "negzero", -0.0) == NF_OK;
    ok = ok && mf_put_f64(w, "denorm", DBL_TRUE_MIN) == NF_OK;
    ok = ok && mf_put_f64(w, "inf", INFINITY) == NF_OK;
    ok = ok && mf_put_str(w, "name", sample_str) == NF_OK;
    ok = ok && mf_put_str(w, "empty", "") == NF_OK;
    ok = ok && mf_begin(w, "affine_coupling") == NF_OK;
    ok = ok && mf_put_i64(w, "hidden", 64) == NF_OK;
    ok = ok && mf_put_f32s(w, "params", f32, 8) == NF_OK;
    ok = ok && mf_put_f64s(w, "mean", f64, 6) == NF_OK;
    ok = ok && mf_put_i32s(w, "mask", sample_i32, 4) == NF_OK;
    ok = ok && mf_put_f32s(w, "e32", NULL, 0) == NF_OK;
    ok = ok && mf_put_f64s(w, "e64", NULL, 0) == NF_OK;
    ok = ok && mf_put_i32s(w, "ei32", NULL, 0) == NF_OK;
    ok = ok && mf_begin(w, "affine_coupling") == NF_OK;
    ok = ok && mf_put_i64(w, "hidden", 32) == NF_OK;
    ok = ok && mf_put_f32s(w, "params", f32 + 1, 3) == NF_OK;
    ok = ok && mf_begin(w, "empty_section") == NF_OK;
    ok = ok && mf_begin(w, "z") == NF_OK;
    ok = ok && mf_put_str(w, "x~!", "last") == NF_OK;
    if (!ok) {
        fprintf(stderr, "sample_writer: %s\n", nf_last_error());
        mf_writer_free(w);
        return NULL;
    }
    return w;
}

static const char *sample_path(void)
{
    const char *p = tpath("sample.nf");
    mf_writer *w = sample_writer();
    if (!w || mf_writer_save(w, p) != NF_OK)
        fprintf(stderr, "sample_path: %s\n", nf_last_error());
    mf_writer_free(w);
    return p;
}

/* ---- tests ---------------------------------------------------------------- */

static void test_round_trip(void)
{
    const char *p = sample_path();
    mf_file *f = NULL;
    CHECK(mf_read(p, &f) == NF_OK, "%s", nf_last_error());
    if (!f)
        return;
    CHECK(strcmp(mf_path(f), p) == 0);
    CHECK(mf_section_count(f) == 5);
    CHECK(mf_section_at(f, 5) == NULL);
    const mf_section *s0 = mf_section_at(f, 0), *s1 = mf_section_at(f, 1), *s2 = mf_section_at(f, 2);
    const mf_section *s3 = mf_section_at(f, 3), *s4 = mf_section_at(f, 4);
    CHECK(strcmp(mf_section_tag(s0), "meta") == 0);
    CHECK(strcmp(mf_section_tag(s1), "affine_coupling") == 0);
    CHECK(strcmp(mf_section_tag(s2), "affine_coupling") == 0);
    CHECK(strcmp(mf_section_tag(s3), "empty_section") == 0);
    CHECK(strcmp(mf_section_tag(s4), "z") == 0);

    int64_t i = 0;
    CHECK(mf_get_i64(f, s0, "n", &i) == NF_OK && i == -42);
    CHECK(mf_get_i64(f, s0, "min", &i) == NF_OK && i == INT64_MIN);
    CHECK(mf_get_i64(f, s0, "max", &i) == NF_OK && i == INT64_MAX);
    double d = 0, e;
    CHECK(mf_get_f64(f, s0, "pi", &d) == NF_OK && d == 3.141592653589793);
    e = -0.0;
    CHECK(mf_get_f64(f, s0, "negzero", &d) == NF_OK && memcmp(&d, &e, 8) == 0 && signbit(d));
    e = DBL_TRUE_MIN;
    CHECK(mf_get_f64(f, s0, "denorm", &d) == NF_OK && memcmp(&d, &e, 8) == 0);
    CHECK(mf_get_f64(f, s0, "inf", &d) == NF_OK && isinf(d) && d > 0);
    const char *str = NULL;
    CHECK(mf_get_str(f, s0, "name", &str) == NF_OK && str && strcmp(str, sample_str) == 0);
    CHECK(mf_get_str(f, s0, "empty", &str) == NF_OK && str && str[0] == '\0');

    CHECK(mf_get_i64(f, s1, "hidden", &i) == NF_OK && i == 64);
    CHECK(mf_get_i64(f, s2, "hidden", &i) == NF_OK && i == 32);
    const float *pf = NULL;
    const double *pd = NULL;
    const int32_t *pi = NULL;
    size_t n = 0;
    float f32[8];
    memcpy(f32, sample_f32, sizeof sample_f32);
    f32[7] = sample_f32_nan();
    double f64[6];
    memcpy(f64, sample_f64, sizeof sample_f64);
    f64[5] = sample_f64_nan();
    CHECK(mf_get_f32s(f, s1, "params", 8, &pf, &n) == NF_OK && n == 8 && memcmp(pf, f32, sizeof f32) == 0);
    CHECK(((uintptr_t)pf % _Alignof(float)) == 0);
    CHECK(mf_get_f64s(f, s1, "mean", (size_t)-1, &pd, &n) == NF_OK && n == 6 && memcmp(pd, f64, sizeof f64) == 0);
    CHECK(((uintptr_t)pd % _Alignof(double)) == 0);
    CHECK(mf_get_i32s(f, s1, "mask", 4, &pi, NULL) == NF_OK && memcmp(pi, sample_i32, sizeof sample_i32) == 0);
    CHECK(((uintptr_t)pi % _Alignof(int32_t)) == 0);
    n = 99;
    CHECK(mf_get_f32s(f, s1, "e32", 0, &pf, &n) == NF_OK && n == 0 && pf != NULL);
    n = 99;
    CHECK(mf_get_f64s(f, s1, "e64", (size_t)-1, &pd, &n) == NF_OK && n == 0 && pd != NULL);
    n = 99;
    CHECK(mf_get_i32s(f, s1, "ei32", (size_t)-1, &pi, &n) == NF_OK && n == 0 && pi != NULL);
    CHECK(mf_get_f32s(f, s2, "params", 3, &pf, &n) == NF_OK && n == 3 && memcmp(pf, f32 + 1, 12) == 0);
    CHECK(mf_get_str(f, s4, "x~!", &str) == NF_OK && strcmp(str, "last") == 0);

    CHECK(mf_has(s1, "params") && mf_has(s1, "hidden") && !mf_has(s1, "n") && !mf_has(s3, "x"));
    CHECK(!mf_has(NULL, "x"));
    mf_free(f);
    mf_free(NULL);
    mf_writer_free(NULL);
}

static void test_long_strings(void)
{
    size_t big = (size_t)1 << 20;
    char *s = malloc(big + 2);
    for (size_t k = 0; k < big + 1; k++)
        s[k] = (char)(' ' + (k * 7919) % 95);
    s[big + 1] = '\0';
    mf_writer *w = mf_writer_new();
    CHECK(mf_begin(w, "strings") == NF_OK);
    CHECK(mf_put_str(w, "toolong", s) == NF_ERR_INVALID, "1 MiB + 1 accepted");
    s[big] = '\0';
    CHECK(mf_put_str(w, "max", s) == NF_OK, "%s", nf_last_error());
    CHECK(mf_put_str(w, "medium", s + big - 70000) == NF_OK);
    const char *p = tpath("strings.nf");
    CHECK(mf_writer_save(w, p) == NF_OK, "%s", nf_last_error());
    mf_writer_free(w);
    mf_file *f = NULL;
    CHECK(mf_read(p, &f) == NF_OK, "%s", nf_last_error());
    const char *v = NULL;
    const mf_section *sec = mf_section_at(f, 0);
    CHECK(mf_get_str(f, sec, "max", &v) == NF_OK && strlen(v) == big && strcmp(v, s) == 0);
    CHECK(mf_get_str(f, sec, "medium", &v) == NF_OK && strcmp(v, s + big - 70000) == 0);
    CHECK(!mf_has(sec, "toolong"));
    char line[256];
    size_t need = mf_dump(f, line, sizeof line);
    CHECK(need < sizeof line && strstr(line, "(1048576 bytes)"), "%s", line);
    mf_free(f);
    free(s);
}

static void test_big_arrays(void)
{
    size_t n = 40000;
    float *a = malloc(n * sizeof *a);
    double *b = malloc(n * sizeof *b);
    for (size_t k = 0; k < n; k++) {
        a[k] = (float)k * 0.25f - 1000.0f;
        b[k] = 1.0 / (double)(k + 1);
    }
    mf_writer *w = mf_writer_new();
    CHECK(mf_begin(w, "big") == NF_OK);
    CHECK(mf_put_f32s(w, "k", a, 1) == NF_OK); /* makes the next array start at an odd offset */
    CHECK(mf_put_f32s(w, "a", a, n) == NF_OK);
    CHECK(mf_put_f64s(w, "bb", b, n) == NF_OK);
    const char *p = tpath("big.nf");
    CHECK(mf_writer_save(w, p) == NF_OK, "%s", nf_last_error());
    mf_writer_free(w);
    mf_file *f = NULL;
    CHECK(mf_read(p, &f) == NF_OK, "%s", nf_last_error());
    const float *ra = NULL;
    const double *rb = NULL;
    CHECK(mf_get_f32s(f, mf_section_at(f, 0), "a", n, &ra, NULL) == NF_OK && memcmp(ra, a, n * sizeof *a) == 0);
    CHECK(mf_get_f64s(f, mf_section_at(f, 0), "bb", n, &rb, NULL) == NF_OK && memcmp(rb, b, n * sizeof *b) == 0);
    CHECK(((uintptr_t)rb % _Alignof(double)) == 0);
    mf_free(f);
    free(a);
    free(b);
}

static void test_getter_errors(void)
{
    const char *p = sample_path();
    mf_file *f = NULL;
    CHECK(mf_read(p, &f) == NF_OK, "%s", nf_last_error());
    if (!f)
        return;
    const mf_section *s1 = mf_section_at(f, 1), *s2 = mf_section_at(f, 2);
    int64_t i = 7;
    double d;
    const char *str;
    const float *pf = NULL;
    const double *pd;
    const int32_t *pi;
    size_t n = 5;

    CHECK(mf_get_i64(f, s2, "hiddn", &i) == NF_ERR_FORMAT);
    CHECK(has(p) && has("section 2 'affine_coupling': missing key 'hiddn'"), "%s", nf_last_error());
    CHECK(i == 7);
    CHECK(mf_get_f64(f, s1, "hidden", &d) == NF_ERR_FORMAT);
    CHECK(has(p) && has("section 1 'affine_coupling': key 'hidden' is i64, expected f64"), "%s", nf_last_error());
    CHECK(mf_get_i64(f, s1, "mean", &i) == NF_ERR_FORMAT && has("key 'mean' is f64[], expected i64"), "%s",
          nf_last_error());
    CHECK(mf_get_str(f, s1, "hidden", &str) == NF_ERR_FORMAT && has("is i64, expected str"), "%s", nf_last_error());
    CHECK(mf_get_f64s(f, s1, "params", 8, &pd, NULL) == NF_ERR_FORMAT && has("key 'params' is f32[], expected f64[]"),
          "%s", nf_last_error());
    CHECK(mf_get_i32s(f, s1, "params", 8, &pi, NULL) == NF_ERR_FORMAT && has("expected i32[]"), "%s", nf_last_error());
    CHECK(mf_get_f32s(f, s1, "params", 120, &pf, &n) == NF_ERR_FORMAT);
    CHECK(has(p) && has("section 1 'affine_coupling': key 'params' has 8 values, expected 120"), "%s",
          nf_last_error());
    CHECK(pf == NULL && n == 5);
    CHECK(mf_get_f32s(f, s2, "params", 8, &pf, &n) == NF_ERR_FORMAT && has("section 2") && has("has 3 values"),
          "%s", nf_last_error());
    CHECK(mf_get_i32s(f, s1, "mask", 0, &pi, NULL) == NF_ERR_FORMAT && has("has 4 values, expected 0"), "%s",
          nf_last_error());
    CHECK(mf_get_i64(f, mf_section_at(f, 3), "x", &i) == NF_ERR_FORMAT && has("section 3 'empty_section'"), "%s",
          nf_last_error());
    CHECK(mf_get_i64(f, NULL, "x", &i) == NF_ERR_INVALID);
    mf_free(f);
}

static void test_writer_errors(void)
{
    mf_writer *w = mf_writer_new();
    float x[2] = {1, 2};
    CHECK(mf_put_i64(w, "a", 1) == NF_ERR_INVALID && has("no section"), "%s", nf_last_error());
    CHECK(mf_begin(w, "") == NF_ERR_INVALID);
    CHECK(mf_begin(w, "0123456789012345678901234567890x") == NF_ERR_INVALID); /* 32 characters */
    CHECK(mf_begin(w, "has space") == NF_ERR_INVALID);
    CHECK(mf_begin(w, "caf\xc3\xa9") == NF_ERR_INVALID);
    CHECK(mf_begin(w, "0123456789012345678901234567890") == NF_OK); /* 31 */
    CHECK(mf_put_i64(w, "", 1) == NF_ERR_INVALID);
    CHECK(mf_put_i64(w, "tab\there", 1) == NF_ERR_INVALID);
    CHECK(mf_put_f64(w, "0123456789012345678901234567890x", 1) == NF_ERR_INVALID);
    CHECK(mf_put_i64(w, "k", 5) == NF_OK);
    CHECK(mf_put_f64(w, "k", 5) == NF_ERR_INVALID && has("'k' already"), "%s", nf_last_error());
    CHECK(mf_put_f32s(w, "arr", NULL, 3) == NF_ERR_INVALID);
    CHECK(mf_put_str(w, "s", NULL) == NF_ERR_INVALID);
    CHECK(mf_put_f32s(w, "arr", x, 2) == NF_OK);
    CHECK(mf_begin(w, "second") == NF_OK);
    CHECK(mf_put_i64(w, "k", 6) == NF_OK, "same key in another section");
    /* The failed calls left nothing behind. */
    const char *p = tpath("werr.nf");
    CHECK(mf_writer_save(w, p) == NF_OK, "%s", nf_last_error());
    mf_writer_free(w);
    mf_file *f = NULL;
    CHECK(mf_read(p, &f) == NF_OK, "%s", nf_last_error());
    CHECK(mf_section_count(f) == 2);
    int64_t i = 0;
    const float *a = NULL;
    CHECK(mf_get_i64(f, mf_section_at(f, 0), "k", &i) == NF_OK && i == 5);
    CHECK(mf_get_f32s(f, mf_section_at(f, 0), "arr", 2, &a, NULL) == NF_OK && a[1] == 2);
    CHECK(mf_get_i64(f, mf_section_at(f, 1), "k", &i) == NF_OK && i == 6);
    char dump[512];
    mf_dump(f, dump, sizeof dump);
    CHECK(strcmp(dump, "[0] 0123456789012345678901234567890\n  k: i64 = 5\n  arr: f32[2]\n[1] second\n  k: i64 = 6\n") == 0,
          "%s", dump);
    mf_free(f);

    /* An empty writer makes a valid file with no sections. */
    w = mf_writer_new();
    p = tpath("empty.nf");
    CHECK(mf_writer_save(w, p) == NF_OK);
    mf_writer_free(w);
    size_t len = 0;
    unsigned char *b = th_slurp(p, &len);
    CHECK(len == 60);
    free(b);
    CHECK(mf_read(p, &f) == NF_OK && mf_section_count(f) == 0, "%s", nf_last_error());
    CHECK(mf_dump(f, dump, sizeof dump) == 0 && dump[0] == '\0');
    mf_free(f);
}

static void test_dump(void)
{
    const char *p = sample_path();
    mf_file *f = NULL;
    CHECK(mf_read(p, &f) == NF_OK, "%s", nf_last_error());
    if (!f)
        return;
    size_t need = mf_dump(f, NULL, 0);
    char *buf = malloc(need + 1);
    CHECK(mf_dump(f, buf, need + 1) == need && strlen(buf) == need);
    CHECK(strstr(buf, "[0] meta\n  n: i64 = -42\n  min: i64 = -9223372036854775808\n") != NULL, "%s", buf);
    CHECK(strstr(buf, "  pi: f64 = 3.141592653589793\n") != NULL, "%s", buf);
    CHECK(strstr(buf, "  negzero: f64 = -0\n") != NULL, "%s", buf);
    CHECK(strstr(buf, "  name: str = \"h\\xc3\\xa9llo \\\"world\\\"\\x09\\\\ \\x01\\x7f\\xff\"\n") != NULL, "%s", buf);
    CHECK(strstr(buf, "  empty: str = \"\"\n") != NULL, "%s", buf);
    CHECK(strstr(buf, "[1] affine_coupling\n  hidden: i64 = 64\n  params: f32[8]\n  mean: f64[6]\n  mask: i32[4]\n"
                      "  e32: f32[0]\n") != NULL,
          "%s", buf);
    CHECK(strstr(buf, "[2] affine_coupling\n  hidden: i64 = 32\n  params: f32[3]\n[3] empty_section\n[4] z\n") != NULL,
          "%s", buf);
    /* snprintf semantics: truncated, terminated, same return. */
    char small[10];
    memset(small, 'x', sizeof small);
    CHECK(mf_dump(f, small, sizeof small) == need && strcmp(small, "[0] meta\n") == 0);
    CHECK(mf_dump(f, small, 1) == need && small[0] == '\0');
    free(buf);
    mf_free(f);
}

/* The exact bytes of a small file, as docs/model-format.md specifies them. */
static size_t golden_bytes(unsigned char *g)
{
    static const unsigned char head[32] = {'N', 'F', 'L', 'O', 'W', 'M', 'D', 'L', 1, 0, 0, 0, 4, 3, 2, 1,
                                           0, 0, 0xC0, 0xBF, 0x0D, 0x0A, 0x1A, 0x0A,
                                           0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0xD5, 0x3F};
    memcpy(g, head, 32);
    le64(g + 32, 1);  /* sections */
    le64(g + 40, 61); /* payload bytes */
    size_t o = 48;
    g[o++] = 1, g[o++] = 's';
    le32(g + o, 3), o += 4;
    g[o++] = 1, g[o++] = 'a', g[o++] = 4; /* f32[] */
    le64(g + o, 3), o += 8;
    le32(g + o, 0x3F800000u), le32(g + o + 4, 0x80000000u), le32(g + o + 8, 0x40200000u), o += 12;
    g[o++] = 1, g[o++] = 'b', g[o++] = 1; /* i64 */
    le64(g + o, 1), o += 8;
    le64(g + o, (uint64_t)-2), o += 8;
    g[o++] = 1, g[o++] = 'c', g[o++] = 3; /* str */
    le64(g + o, 2), o += 8;
    g[o++] = 'h', g[o++] = 'i';
    le32(g + o, (uint32_t)crc32(0L, g, (uInt)o)), o += 4;
    memcpy(g + o, "NFLOWEND", 8), o += 8;
    return o;
}

static void write_golden(const char *p)
{
    mf_writer *w = mf_writer_new();
    float a[3] = {1.0f, -0.0f, 2.5f};
    mf_begin(w, "s");
    mf_put_f32s(w, "a", a, 3);
    mf_put_i64(w, "b", -2);
    mf_put_str(w, "c", "hi");
    CHECK(mf_writer_save(w, p) == NF_OK, "%s", nf_last_error());
    mf_writer_free(w);
}

static void test_golden_layout(void)
{
    unsigned char g[256];
    size_t gn = golden_bytes(g);
    CHECK(gn == 121);
    const char *p = tpath("golden.nf");
    write_golden(p);
    size_t n = 0;
    unsigned char *b = th_slurp(p, &n);
    CHECK(b && n == gn && memcmp(b, g, gn) == 0, "the writer's bytes differ from the documented layout");
    free(b);
    CHECK((uint32_t)crc32(0L, (const unsigned char *)"123456789", 9) == 0xCBF43926u);
}

/* Overwrites one byte of an open file in place (cheaper than rewriting the
 * file, which matters for the thousands of cases under ASan). */
static void patch(int fd, size_t off, unsigned char v)
{
    if (pwrite(fd, &v, 1, (off_t)off) != 1)
        CHECK(0, "pwrite");
}

/* Reads a file that should be refused; checks nothing came out. */
static nf_status read_file(const char *p)
{
    mf_file *f = (mf_file *)&f; /* poison: must be reset to NULL */
    nf_status st = mf_read(p, &f);
    if (st != NF_OK)
        CHECK(f == NULL);
    mf_free(st == NF_OK ? f : NULL);
    return st;
}

/* Reads an edited image. */
static nf_status read_image(const char *p, const unsigned char *b, size_t n)
{
    spit(p, b, n);
    return read_file(p);
}

static void test_truncation(void)
{
    const char *p = sample_path();
    size_t n = 0;
    unsigned char *b = th_slurp(p, &n);
    CHECK(b && n > 300, "%zu", n);
    const char *q = tpath("trunc.nf");
    int bad = 0;
    spit(q, b, n);
    for (size_t len = n; len-- > 0;) { /* shrink the file a byte at a time */
        if (truncate(q, (off_t)len) != 0)
            CHECK(0, "truncate");
        nf_status st = read_file(q);
        if (st != NF_ERR_FORMAT || !has("truncated") || !has(q)) {
            if (bad++ < 5)
                CHECK(0, "length %zu of %zu: status %d: %s", len, n, (int)st, nf_last_error());
        }
    }
    CHECK(bad == 0, "%d truncations not reported as such", bad);
    CHECK(read_image(q, b, n) == NF_OK, "%s", nf_last_error());
    /* One byte too many. */
    unsigned char *c = malloc(n + 1);
    memcpy(c, b, n);
    c[n] = 0;
    CHECK(read_image(q, c, n + 1) == NF_ERR_FORMAT && has("stray"), "%s", nf_last_error());
    free(c);
    free(b);
}

static int refused_ok(size_t i, nf_status st)
{
    if (st == NF_ERR_FORMAT || st == NF_ERR_CHECKSUM)
        return 1;
    return st == NF_ERR_UNSUPPORTED && i >= 8 && i < 12; /* the version field */
}

static void test_corruption(void)
{
    const char *p = sample_path();
    size_t n = 0;
    unsigned char *b = th_slurp(p, &n);
    const char *q = tpath("flip.nf");
    int bad = 0, checksum = 0;
    spit(q, b, n);
    int fd = open(q, O_RDWR);
    CHECK(fd >= 0);
    for (size_t i = 0; i < n && fd >= 0; i++) {
        patch(fd, i, b[i] ^ 0xFF);
        nf_status st = read_file(q);
        patch(fd, i, b[i]);
        checksum += st == NF_ERR_CHECKSUM;
        if (!refused_ok(i, st) && bad++ < 5)
            CHECK(0, "byte %zu flipped: status %d: %s", i, (int)st, nf_last_error());
        /* Every bit of the header, of the trailer and of every 13th byte. */
        if (i % 13 == 0 || i < 48 || i >= n - 12) {
            for (int bit = 0; bit < 8; bit++) {
                patch(fd, i, b[i] ^ (unsigned char)(1u << bit));
                st = read_file(q);
                patch(fd, i, b[i]);
                if (!refused_ok(i, st) && bad++ < 5)
                    CHECK(0, "byte %zu bit %d flipped: status %d: %s", i, bit, (int)st, nf_last_error());
            }
        }
    }
    if (fd >= 0)
        close(fd);
    CHECK(bad == 0, "%d corruptions accepted or misreported", bad);
    CHECK(checksum > (int)n / 2, "only %d of %zu flips caught by the checksum", checksum, n);
    /* A payload byte: the message says checksum. */
    b[100] ^= 1;
    CHECK(read_image(q, b, n) == NF_ERR_CHECKSUM && has("checksum") && has(q), "%s", nf_last_error());
    b[100] ^= 1;
    CHECK(read_image(q, b, n) == NF_OK);
    free(b);
}

static void test_foreign_files(void)
{
    unsigned char g[256], b[256];
    size_t n = golden_bytes(g);
    const char *q = tpath("foreign.nf");

    memcpy(b, g, n);
    b[7] = 'X';
    CHECK(read_image(q, b, n) == NF_ERR_FORMAT && has("not an nflow model file"), "%s", nf_last_error());
    CHECK(read_image(q, (const unsigned char *)"hello, world\n", 13) == NF_ERR_FORMAT && has("magic"), "%s",
          nf_last_error());
    CHECK(read_image(q, (const unsigned char *)"NFL", 3) == NF_ERR_FORMAT && has("truncated"), "%s",
          nf_last_error());

    /* Version 2, with a correct checksum: made by a newer nflow. */
    memcpy(b, g, n);
    le32(b + 8, 2);
    fix_crc(b, n);
    CHECK(read_image(q, b, n) == NF_ERR_UNSUPPORTED && has("newer nflow") && has(q), "%s", nf_last_error());
    le32(b + 8, 0);
    fix_crc(b, n);
    CHECK(read_image(q, b, n) == NF_ERR_FORMAT && has("version 0"), "%s", nf_last_error());

    /* Big-endian byte-order value, float check values, text-mode damage. */
    memcpy(b, g, n);
    b[12] = 1, b[13] = 2, b[14] = 3, b[15] = 4;
    fix_crc(b, n);
    CHECK(read_image(q, b, n) == NF_ERR_FORMAT && has("byte order"), "%s", nf_last_error());
    memcpy(b, g, n);
    le32(b + 16, 0x3FC00000u); /* +1.5 */
    fix_crc(b, n);
    CHECK(read_image(q, b, n) == NF_ERR_FORMAT && has("float32 check"), "%s", nf_last_error());
    memcpy(b, g, n);
    b[24] = 0x56;
    fix_crc(b, n);
    CHECK(read_image(q, b, n) == NF_ERR_FORMAT && has("float64 check"), "%s", nf_last_error());

    unsigned char t[512];
    size_t tn = 0;
    for (size_t i = 0; i < n; i++) { /* LF -> CR LF */
        if (g[i] == 0x0A)
            t[tn++] = 0x0D;
        t[tn++] = g[i];
    }
    CHECK(read_image(q, t, tn) == NF_ERR_FORMAT && has("text mode"), "%s", nf_last_error());
    tn = 0;
    for (size_t i = 0; i < n; i++) /* CR LF -> LF */
        if (!(g[i] == 0x0D && i + 1 < n && g[i + 1] == 0x0A))
            t[tn++] = g[i];
    CHECK(read_image(q, t, tn) == NF_ERR_FORMAT && has("text mode"), "%s", nf_last_error());

    CHECK(read_image(q, g, n) == NF_OK, "%s", nf_last_error());

    /* Not there, not a file. */
    mf_file *f = NULL;
    CHECK(mf_read(tpath("absent.nf"), &f) == NF_ERR_IO && has("absent.nf") && f == NULL, "%s", nf_last_error());
    CHECK(mf_read(tmpdir, &f) == NF_ERR_IO && f == NULL, "%s", nf_last_error());
}

/* Structural damage behind a valid checksum, as a forger would make it: the
 * reader must refuse every one with a format error, without allocating by
 * the forged length (ASan would abort on a 2^62-byte request). */
static void test_forged_lengths(void)
{
    unsigned char g[256], b[256];
    size_t n = golden_bytes(g);
    const char *q = tpath("forged.nf");
    struct {
        size_t off;
        int width; /* 1, 4 or 8 bytes */
        uint64_t value;
        const char *msg;
    } cases[] = {
        {32, 8, (uint64_t)1 << 62, "sections"},        /* section count */
        {32, 8, 2, "section tag"},                     /* a second section that is not there */
        {32, 8, 0, "after the last"},                  /* bytes left over */
        {48, 1, 0, "outside 1..31"},                   /* tag length */
        {48, 1, 200, "outside 1..31"},
        {49, 1, ' ', "printable"},
        {50, 4, 0xFFFFFFFFu, "values"},                /* value count */
        {50, 4, 4, "key"},
        {54, 1, 32, "outside 1..31"},                  /* key length */
        {56, 1, 7, "unknown type"},                    /* type code */
        {56, 1, 0, "unknown type"},
        {57, 8, (uint64_t)1 << 62, "announces"},       /* array count */
        {57, 8, ((uint64_t)1 << 62) + 1, "announces"}, /* count * 4 wraps to 4 */
        {57, 8, UINT64_MAX, "announces"},
        {57, 8, 2, ""},                                /* misaligned parse */
        {78, 1, 'a', "appears twice"},                 /* key 'b' renamed 'a' */
        {80, 8, 2, "count 2"},                         /* scalar count */
        {80, 8, (uint64_t)1 << 62, "count"},
        {99, 8, (uint64_t)1 << 62, "exceeds"},         /* string length */
        {99, 8, 3, "announces"},
        {107, 1, 0, "NUL"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        memcpy(b, g, n);
        if (cases[k].width == 1)
            b[cases[k].off] = (unsigned char)cases[k].value;
        else if (cases[k].width == 4)
            le32(b + cases[k].off, (uint32_t)cases[k].value);
        else
            le64(b + cases[k].off, cases[k].value);
        fix_crc(b, n);
        nf_status st = read_image(q, b, n);
        CHECK(st == NF_ERR_FORMAT && has(cases[k].msg) && has(q), "case %zu (byte %zu = %llu): status %d: %s", k,
              cases[k].off, (unsigned long long)cases[k].value, (int)st, nf_last_error());
    }
    /* The payload length itself forged to 2^62. */
    memcpy(b, g, n);
    le64(b + 40, (uint64_t)1 << 62);
    CHECK(read_image(q, b, n) == NF_ERR_FORMAT && has("truncated"), "%s", nf_last_error());
    le64(b + 40, UINT64_MAX);
    CHECK(read_image(q, b, n) == NF_ERR_FORMAT && has("truncated"), "%s", nf_last_error());
}

static void test_save(void)
{
    const char *p = tpath("save.nf");
    mf_writer *w = mf_writer_new();
    mf_begin(w, "one");
    mf_put_i64(w, "v", 1);

    CHECK(mf_writer_save(w, tpath("no/such/dir/x.nf")) == NF_ERR_IO && has("no/such/dir/x.nf"), "%s",
          nf_last_error());

    CHECK(mf_writer_save(w, p) == NF_OK, "%s", nf_last_error());
    size_t old_n = 0;
    unsigned char *old = th_slurp(p, &old_n);

    /* Saving over an existing file replaces it. */
    mf_writer *w2 = mf_writer_new();
    mf_begin(w2, "two");
    mf_put_i64(w2, "v", 2);
    CHECK(mf_writer_save(w2, p) == NF_OK, "%s", nf_last_error());
    mf_file *f = NULL;
    int64_t v = 0;
    CHECK(mf_read(p, &f) == NF_OK && mf_get_i64(f, mf_section_at(f, 0), "v", &v) == NF_OK && v == 2);
    CHECK(strcmp(mf_section_tag(mf_section_at(f, 0)), "one") != 0);
    mf_free(f);
    CHECK(mf_writer_save(w, p) == NF_OK); /* back to the first */
    mf_writer_free(w2);

    /* A save that fails half-way (file-size limit): old file intact, no
     * temporary left behind. */
    size_t big = 1 << 16;
    float *a = calloc(big, sizeof *a);
    mf_writer *w3 = mf_writer_new();
    mf_begin(w3, "big");
    mf_put_f32s(w3, "a", a, big);
    struct rlimit saved;
    if (getrlimit(RLIMIT_FSIZE, &saved) == 0) {
        struct rlimit lim = saved;
        lim.rlim_cur = 4096;
        void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
        if (setrlimit(RLIMIT_FSIZE, &lim) == 0) {
            nf_status st = mf_writer_save(w3, p);
            setrlimit(RLIMIT_FSIZE, &saved);
            CHECK(st == NF_ERR_IO && has(p), "status %d: %s", (int)st, nf_last_error());
        }
        signal(SIGXFSZ, prev);
    }
    size_t now_n = 0;
    unsigned char *now = th_slurp(p, &now_n);
    CHECK(now && now_n == old_n && memcmp(now, old, old_n) == 0, "the old file changed");
    CHECK(count_tmp_files() == 0, "temporary file left behind");
    free(now);

    /* The target is a directory: the rename fails, nothing is left. */
    const char *dir = tpath("adir");
    mkdir(dir, 0700);
    CHECK(mf_writer_save(w3, dir) == NF_ERR_IO, "%s", nf_last_error());
    struct stat sb;
    CHECK(stat(dir, &sb) == 0 && S_ISDIR(sb.st_mode));
    CHECK(count_tmp_files() == 0, "temporary file left behind");
    rmdir(dir);

    mf_writer_free(w3);
    mf_writer_free(w);
    free(a);
    free(old);
}

static void remove_tmpdir(void)
{
    DIR *d = opendir(tmpdir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            char p[512];
            snprintf(p, sizeof p, "%s/%s", tmpdir, e->d_name);
            if (unlink(p) != 0)
                rmdir(p);
        }
        closedir(d);
    }
    rmdir(tmpdir);
}

/* A 2-D nsf of one small coupling, saved through the model writer: files
 * with a valid checksum whatever its config says. */
static nf_flow *small_nsf(double tail_bound)
{
    nf_config c;
    nf_config_default(&c, NF_MODEL_NSF, 2);
    c.layers = 1;
    c.hidden = 4;
    c.hidden_layers = 1;
    c.whiten = 0;
    c.tail_bound = tail_bound;
    nf_flow *f = NULL;
    CHECK(nf_flow_create(&f, &c) == NF_OK, "%s", nf_last_error());
    return f;
}

/* Issue 26, 3b: the largest tail bound the builder and the tool take is
 * one the reader takes (it once refused 1e6: "coupling sizes out of range"). */
static void test_limits_agree(void)
{
    const char *p = tpath("bound.nfm");
    nf_flow *f = small_nsf(NF_MAX_TAIL_BOUND), *g = NULL;
    if (!f)
        return;
    CHECK(nf_flow_save(f, p) == NF_OK, "%s", nf_last_error());
    CHECK(nf_flow_load(&g, p) == NF_OK, "tail bound %g: %s", NF_MAX_TAIL_BOUND, nf_last_error());
    nf_flow_free(g);
    nf_flow_free(f);
    nf_config c;
    nf_config_default(&c, NF_MODEL_NSF, 2);
    c.tail_bound = NF_MAX_TAIL_BOUND * 1.5;
    CHECK(nf_flow_create(&f, &c) == NF_ERR_INVALID && has("spline"));
}

/* Issue 26, 3g: a file whose checksum is valid but whose config section is
 * nonsense is refused, naming the section and the field, never loaded to
 * print "networks 2 x -1" or "0 spline coupling layers". */
static void test_config_ranges(void)
{
    const char *p = tpath("config.nfm");
    nf_flow *f = small_nsf(3), *g = NULL;
    if (!f)
        return;
    const nf_config good = f->config;
    CHECK(nf_flow_save(f, p) == NF_OK && nf_flow_load(&g, p) == NF_OK, "%s", nf_last_error());
    nf_flow_free(g);
    enum { HIDDEN, LAYERS, DEPTH, SCALE_BOUND, BINS, TAIL_BOUND, MOG_COMPONENTS, BATCH_NORM, WHITEN, DEGREES };
    const struct {
        int field;
        double value;
        const char *says;
    } bad[] = {
        {HIDDEN, -1, "hidden units -1 out of range"},
        {HIDDEN, NF_MAX_HIDDEN + 1, "hidden units 65537 out of range"},
        {LAYERS, 0, "layers 0 out of range"},
        {DEPTH, NF_MAX_HIDDEN_LAYERS + 1, "hidden layers 17 out of range"},
        {SCALE_BOUND, NAN, "log-scale bound nan out of range"},
        {SCALE_BOUND, NF_MAX_LOG_SCALE_BOUND, "log-scale bound 100 out of range"},
        {BINS, 1, "1 bins"},
        {TAIL_BOUND, 1e7, "out of range"},
        {MOG_COMPONENTS, 0, "components 0 out of range"},
        {BATCH_NORM, 2, "batch_norm 2 is not 0 or 1"},
        {WHITEN, -1, "whiten -1 is not 0 or 1"},
        {DEGREES, 7, "random_degrees 7 is not 0 or 1"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        nf_config c = good; /* one field changed */
        int v = (int)bad[k].value;
        switch (bad[k].field) {
        case HIDDEN: c.hidden = v; break;
        case LAYERS: c.layers = v; break;
        case DEPTH: c.hidden_layers = v; break;
        case SCALE_BOUND: c.log_scale_bound = bad[k].value; break;
        case BINS: c.bins = v; break;
        case TAIL_BOUND: c.tail_bound = bad[k].value; break;
        case MOG_COMPONENTS: c.model = NF_MODEL_MAF_MOG, c.components = v; break;
        case BATCH_NORM: c.batch_norm = v; break;
        case WHITEN: c.whiten = v; break;
        case DEGREES: c.random_degrees = v; break;
        }
        f->config = c;
        CHECK(nf_flow_save(f, p) == NF_OK, "%s: %s", bad[k].says, nf_last_error());
        mf_file *mf = NULL;
        CHECK(mf_read(p, &mf) == NF_OK, "%s: the checksum: %s", bad[k].says, nf_last_error());
        mf_free(mf);
        g = NULL;
        nf_status st = nf_flow_load(&g, p);
        CHECK(st == NF_ERR_FORMAT && has("section 'config'") && has(bad[k].says), "%s: %d %s", bad[k].says, st,
              nf_last_error());
        nf_flow_free(g);
    }
    /* 2^62 layers: an int64 that a narrowing to int would read as 0 */
    f->config = good;
    f->config.layers = 123456789; /* a marker to find in the file and replace */
    CHECK(nf_flow_save(f, p) == NF_OK, "%s", nf_last_error());
    size_t n = 0, hits = 0;
    unsigned char *b = th_slurp(p, &n), marker[8];
    le64(marker, 123456789);
    for (size_t i = 0; b && i + 8 <= n; i++)
        if (!memcmp(b + i, marker, 8)) {
            le64(b + i, (uint64_t)1 << 62);
            hits++;
        }
    CHECK(hits == 1, "the marker was found %zu times", hits);
    if (b) {
        fix_crc(b, n);
        spit(p, b, n);
    }
    free(b);
    g = NULL;
    CHECK(nf_flow_load(&g, p) == NF_ERR_FORMAT && has("section 'config': layers 4611686018427387904 out of range"),
          "%s", nf_last_error());
    nf_flow_free(g);
    nf_flow_free(f);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/nflow_mfile_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(test_round_trip);
    RUN(test_long_strings);
    RUN(test_big_arrays);
    RUN(test_getter_errors);
    RUN(test_writer_errors);
    RUN(test_dump);
    RUN(test_golden_layout);
    RUN(test_truncation);
    RUN(test_corruption);
    RUN(test_foreign_files);
    RUN(test_forged_lengths);
    RUN(test_save);
    RUN(test_limits_agree);
    RUN(test_config_ranges);
    remove_tmpdir();
    TEST_SUMMARY("test_mfile");
}
