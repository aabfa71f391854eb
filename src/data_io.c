/* Reading data matrices: the public entry points nf_read_options_default,
 * nf_matrix_read and nf_matrix_free, and the small helpers the readers and
 * writers share. The formats themselves are in data_io_csv.c and
 * data_io_npy.c; writing is in data_io_write.c. */
#include "data_io.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "error.h"

void nf_read_options_default(nf_read_options *opt)
{
    if (!opt)
        return;
    opt->header = -1;
    opt->columns = NULL;
}

/* Whether a file starts with .npy's magic, whatever its name. */
static int npy_magic(const char *path)
{
    FILE *fp = fopen(path, "rb");
    unsigned char head[6] = {0};
    int yes = fp && fread(head, 1, 6, fp) == 6 && memcmp(head, "\x93NUMPY", 6) == 0;
    if (fp)
        fclose(fp);
    return yes;
}

nf_status nf_matrix_read(const char *path, const nf_read_options *opt, nf_matrix *out)
{
    if (out)
        memset(out, 0, sizeof *out);
    if (!out)
        return nf_fail(NF_ERR_INVALID, "nf_matrix_read: out is NULL");
    if (!path || !path[0])
        return nf_fail(NF_ERR_INVALID, "nf_matrix_read: no file name");
    nf_read_options def;
    nf_read_options_default(&def);
    if (!opt)
        opt = &def;
    if (opt->header < -1 || opt->header > 1)
        return nf_fail(NF_ERR_INVALID, "%s: header option %d: expected 1 (header), 0 (none) or -1 (detect)", path,
                       opt->header);

    /* A file or a pipe; a device such as /dev/zero would be read forever. */
    struct stat sb;
    int exists = stat(path, &sb) == 0, regular = exists && S_ISREG(sb.st_mode);
    if (exists && !regular && !S_ISFIFO(sb.st_mode))
        return nf_fail(NF_ERR_IO, "%s: %s, not a data file", path,
                       S_ISDIR(sb.st_mode) ? "a folder" : "a device or special file");
    dio_colspec cs;
    nf_status st = dio_colspec_parse(path, opt->columns, &cs);
    if (st != NF_OK)
        return st;
    if (dio_is_npy(path) || (regular && npy_magic(path))) /* a pipe cannot be peeked at */
        st = dio_read_npy(path, &cs, out);
    else
        st = dio_read_csv(path, opt->header, &cs, out);
    dio_colspec_free(&cs);
    if (st != NF_OK)
        nf_matrix_free(out);
    return st;
}

void nf_matrix_free(nf_matrix *m)
{
    if (!m)
        return;
    if (m->mapping)
        munmap(m->mapping, m->mapping_bytes);
    else
        free(m->values);
    memset(m, 0, sizeof *m);
}

/* ---- shared helpers ------------------------------------------------------ */

int dio_is_npy(const char *path)
{
    size_t n = strlen(path);
    if (n < 4)
        return 0;
    const char *e = path + n - 4;
    return e[0] == '.' && tolower((unsigned char)e[1]) == 'n' && tolower((unsigned char)e[2]) == 'p' &&
           tolower((unsigned char)e[3]) == 'y';
}

int dio_host_little_endian(void)
{
    const uint16_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

const char *dio_quote(char *buf, size_t size, const char *s, size_t len)
{
    if (size == 0)
        return buf;
    size_t keep = len;
    int cut = 0;
    if (keep > size - 1) {
        keep = size >= 4 ? size - 4 : 0;
        cut = 1;
    }
    size_t i;
    for (i = 0; i < keep; i++) {
        unsigned char c = (unsigned char)s[i];
        buf[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    if (cut && size >= 4) {
        memcpy(buf + i, "...", 3);
        i += 3;
    }
    buf[i] = '\0';
    return buf;
}
