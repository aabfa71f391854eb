/* Shared by the fuzz targets: the input written to a file the readers
 * open by name (they read files, not buffers), and the model container's
 * frame built around an input so that mutations reach the parser past
 * the checksum. */
#ifndef NF_FUZZ_COMMON_H
#define NF_FUZZ_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "nflow.h"

/* The input as a C string (malloc'd; NULL when out of memory): the text
 * parsers' targets. */
static char *fuzz_text(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (text) {
        memcpy(text, data, size);
        text[size] = '\0';
    }
    return text;
}

/* A file of this process in /dev/shm (memory) or /tmp, named by suffix. */
static const char *fuzz_path(const char *suffix)
{
    static char path[128];
    const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(path, sizeof path, "%s/nflow_fuzz_%d%s", dir, (int)getpid(), suffix);
    return path;
}

static int fuzz_write(const char *path, const uint8_t *data, size_t size)
{
    FILE *fp = fopen(path, "wb");
    if (!fp)
        return -1;
    int ok = fwrite(data, 1, size, fp) == size;
    return fclose(fp) == 0 && ok ? 0 : -1;
}

static void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* The input is a section count (2 bytes, little-endian), then the payload
 * (docs/model-format.md): it gets the 48-byte header and the trailer with
 * the CRC-32 recomputed, so every mutation is a file with a valid frame. */
static int fuzz_write_model(const char *path, const uint8_t *data, size_t size)
{
    if (size < 2)
        return -1;
    size_t payload = size - 2, total = 48 + payload + 12;
    uint8_t *buf = malloc(total);
    if (!buf)
        return -1;
    memcpy(buf, "NFLOWMDL", 8);
    put_u32(buf + 8, 1);
    put_u32(buf + 12, 0x01020304u);
    float f = -1.5f;
    memcpy(buf + 16, &f, 4);
    memcpy(buf + 20, "\r\n\x1a\n", 4);
    double third = 1.0 / 3.0;
    memcpy(buf + 24, &third, 8);
    put_u64(buf + 32, (uint64_t)data[0] | (uint64_t)data[1] << 8);
    put_u64(buf + 40, payload);
    memcpy(buf + 48, data + 2, payload);
    put_u32(buf + 48 + payload, (uint32_t)crc32(crc32(0L, Z_NULL, 0), buf, (uInt)(48 + payload)));
    memcpy(buf + 48 + payload + 4, "NFLOWEND", 8);
    int rc = fuzz_write(path, buf, total);
    free(buf);
    return rc;
}

/* A data file of the input: read whole (header detected), then with the
 * given header setting and column list, as `nflow --columns` would. */
static void fuzz_read_data(const char *suffix, const uint8_t *data, size_t size, int header, const char *columns)
{
    const char *path = fuzz_path(suffix);
    if (fuzz_write(path, data, size) != 0)
        return;
    nf_read_options opt;
    nf_read_options_default(&opt);
    nf_matrix m;
    nf_matrix_read(path, &opt, &m);
    nf_matrix_free(&m);
    opt.header = header;
    opt.columns = columns;
    nf_matrix_read(path, &opt, &m);
    nf_matrix_free(&m);
    unlink(path);
}

#endif
