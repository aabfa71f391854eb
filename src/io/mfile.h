/* The model-file container: a versioned, self-describing, checksummed list
 * of tagged sections, each a list of named typed values (integers, doubles,
 * strings, float32/float64/int32 arrays). The flow code decides what goes
 * in; this module only guarantees that what comes out is what went in, or a
 * clear error. Layout: docs/model-format.md. */
#ifndef NF_MFILE_H
#define NF_MFILE_H

#include <stddef.h>
#include <stdint.h>

#include "nflow.h"

typedef struct mf_writer mf_writer;

/* NULL on allocation failure. */
mf_writer *mf_writer_new(void);
void mf_writer_free(mf_writer *w);
/* Starts a new section; the values that follow belong to it. tag and key:
 * 1..31 printable ASCII characters. Each put returns NF_OK or
 * NF_ERR_NOMEM/NF_ERR_INVALID (key too long, no section begun). */
nf_status mf_begin(mf_writer *w, const char *tag);
nf_status mf_put_i64(mf_writer *w, const char *key, int64_t v);
nf_status mf_put_f64(mf_writer *w, const char *key, double v);
nf_status mf_put_str(mf_writer *w, const char *key, const char *s);
nf_status mf_put_f32s(mf_writer *w, const char *key, const float *v, size_t n);
nf_status mf_put_f64s(mf_writer *w, const char *key, const double *v, size_t n);
nf_status mf_put_i32s(mf_writer *w, const char *key, const int32_t *v, size_t n);
/* Writes everything to `path` through a temporary file in the same folder,
 * flushed and renamed over `path` only when complete: a failure leaves any
 * old file untouched and no temporary behind. */
nf_status mf_writer_save(const mf_writer *w, const char *path);
/* The same file as bytes in memory: *out (malloc'd) and its length. */
nf_status mf_writer_bytes(const mf_writer *w, unsigned char **out, size_t *len);

typedef struct mf_file mf_file;
typedef struct mf_section mf_section;

/* Reads and verifies (magic, version, byte-order and float check values,
 * sizes, checksum) a whole file. Errors name the file and what is wrong. */
nf_status mf_read(const char *path, mf_file **out);
/* The same from a file's bytes in memory (copied); messages call it `name`. */
nf_status mf_read_bytes(const char *name, const void *bytes, size_t len, mf_file **out);
void mf_free(mf_file *f);
const char *mf_path(const mf_file *f);
size_t mf_section_count(const mf_file *f);
const mf_section *mf_section_at(const mf_file *f, size_t i);
const char *mf_section_tag(const mf_section *s);
/* Getters fail with NF_ERR_FORMAT and a message naming the file, the
 * section (tag and index) and the key when the key is absent or of another
 * type; arrays must have exactly `n` elements (n == (size_t)-1: any count,
 * reported through *count). The pointers stay valid until mf_free. */
nf_status mf_get_i64(const mf_file *f, const mf_section *s, const char *key, int64_t *v);
nf_status mf_get_f64(const mf_file *f, const mf_section *s, const char *key, double *v);
nf_status mf_get_str(const mf_file *f, const mf_section *s, const char *key, const char **v);
nf_status mf_get_f32s(const mf_file *f, const mf_section *s, const char *key, size_t n, const float **v,
                      size_t *count);
nf_status mf_get_f64s(const mf_file *f, const mf_section *s, const char *key, size_t n, const double **v,
                      size_t *count);
nf_status mf_get_i32s(const mf_file *f, const mf_section *s, const char *key, size_t n, const int32_t **v,
                      size_t *count);
/* Copies a float32 array of exactly n values into dst (the parameters:
 * straight from the file image, without a copy in between). */
nf_status mf_copy_f32s(const mf_file *f, const mf_section *s, const char *key, size_t n, float *dst);
/* The element count of a float32 array, without decoding it. */
nf_status mf_count_f32s(const mf_file *f, const mf_section *s, const char *key, size_t *count);
/* Whether a key exists in a section (for optional values). */
int mf_has(const mf_section *s, const char *key);
/* Prints every section and key with its type and size (and scalar values)
 * into buf like snprintf; for `nflow info` and debugging. */
size_t mf_dump(const mf_file *f, char *buf, size_t size);

#endif
