/* Reading data matrices: the public entry points nf_read_options_default,
 * nf_matrix_read and nf_matrix_free. The formats themselves are in csv.c
 * and npy.c; writing is in api_write.c. */
#include "data/columns.h"
#include "data/csv.h"
#include "data/api_read.h"
#include "data/data_common.h"
#include "data/idx.h"
#include "data/npy.h"
#include "data/png_folder.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "core/error.h"
#include "core/sized.h"

void nf_read_options_init(nf_read_options *caller, size_t struct_size)
{
    nf_read_options o;
    memset(&o, 0, sizeof o);
    o.header = -1;
    o.columns = NULL;
    sized_write(caller, struct_size, &o, sizeof o);
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
    return dio_matrix_read(path, opt, out, NULL);
}

nf_status dio_matrix_read(const char *path, const nf_read_options *opt, nf_matrix *out, int image[3])
{
    int shape[3] = {0, 0, 0};
    if (out)
        memset(out, 0, sizeof *out);
    if (!out)
        return nf_fail(NF_ERR_INVALID, "nf_matrix_read: out is NULL");
    if (!path || !path[0])
        return nf_fail(NF_ERR_INVALID, "nf_matrix_read: no file name");
    nf_read_options def; /* the caller's fields over the defaults (core/sized.h) */
    nf_read_options_default(&def);
    nf_status in = opt ? sized_read(&def, sizeof def, READ_OPTIONS_SIZE_1, opt, "nf_read_options") : NF_OK;
    if (in)
        return in;
    opt = &def;
    if (opt->header < -1 || opt->header > 1)
        return nf_fail(NF_ERR_INVALID, "%s: header option %d: expected 1 (header), 0 (none) or -1 (detect)", path,
                       opt->header);

    /* A file or a pipe; a device such as /dev/zero would be read forever. */
    struct stat sb;
    int exists = stat(path, &sb) == 0, regular = exists && S_ISREG(sb.st_mode), folder = exists && S_ISDIR(sb.st_mode);
    if (exists && !regular && !folder && !S_ISFIFO(sb.st_mode))
        return nf_fail(NF_ERR_IO, "%s: a device or special file, not a data file", path);
    dio_colspec cs;
    nf_status st = dio_colspec_parse(path, opt->columns, &cs);
    if (st != NF_OK)
        return st;
    if (folder) /* of PNG images */
        st = dio_read_png_folder(path, &cs, out, shape);
    else if (dio_is_npy(path) || (regular && npy_magic(path))) /* a pipe cannot be peeked at */
        st = dio_read_npy(path, &cs, out, shape);
    else if (regular && dio_is_idx(path))
        st = dio_read_idx(path, &cs, out, shape);
    else
        st = dio_read_csv(path, opt->header, &cs, out);
    if (image) /* a column list makes rows of chosen pixels, not images */
        for (int k = 0; k < 3; k++)
            image[k] = st || cs.text ? 0 : shape[k];
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
