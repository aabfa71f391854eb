/* A folder of PNG images as a data matrix: the files are decoded by
 * libpng, their values kept as stored (no colour or gamma conversion, so
 * that a model sees the 8-bit values the papers' bits/dim count). */
#include "data/png_folder.h"

#include <dirent.h>
#include <errno.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "core/error.h"

enum { MAX_ROW_VALUES = 1 << 26, MAX_SIDE = 1 << 16 };

/* The images of a folder, in order, and their classes (0 when flat). */
typedef struct image_list {
    char **paths;
    int *labels;
    size_t n, cap;
    int classes; /* class subfolders (0: the images lie in the folder itself) */
} image_list;

static void list_free(image_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->paths[i]);
    free(l->paths);
    free(l->labels);
    memset(l, 0, sizeof *l);
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int is_png_name(const char *name)
{
    size_t n = strlen(name);
    return n > 4 && !strcasecmp(name + n - 4, ".png");
}

/* The names in `path` that are PNG files (dirs 0) or folders (dirs 1),
 * sorted; hidden ones (".name") left out. */
static nf_status names_in(const char *path, int dirs, char ***names, size_t *n)
{
    *names = NULL;
    *n = 0;
    DIR *dir = opendir(path);
    if (!dir)
        return nf_fail(NF_ERR_IO, "%s: cannot open the folder: %s", path, strerror(errno));
    size_t cap = 0;
    nf_status st = NF_OK;
    struct dirent *e;
    while (!st && (e = readdir(dir))) {
        if (e->d_name[0] == '.' || (!dirs && !is_png_name(e->d_name)))
            continue;
        char *full = malloc(strlen(path) + strlen(e->d_name) + 2);
        struct stat sb;
        if (!full) {
            st = nf_fail(NF_ERR_NOMEM, "%s: out of memory", path);
            break;
        }
        sprintf(full, "%s/%s", path, e->d_name);
        if (stat(full, &sb) != 0 || (dirs ? !S_ISDIR(sb.st_mode) : !S_ISREG(sb.st_mode))) {
            free(full);
            continue;
        }
        char **grown = *n < cap ? *names : realloc(*names, sizeof **names * (cap = cap ? 2 * cap : 64));
        if (!grown) {
            free(full);
            st = nf_fail(NF_ERR_NOMEM, "%s: out of memory", path);
            break;
        }
        *names = grown;
        (*names)[(*n)++] = full;
    }
    closedir(dir);
    if (!st && *n > 1)
        qsort(*names, *n, sizeof **names, by_name);
    return st;
}

static nf_status add_images(image_list *l, char **paths, size_t n, int label)
{
    if (l->n + n > l->cap) {
        size_t cap = l->cap ? l->cap : 64;
        while (cap < l->n + n)
            cap *= 2;
        char **p = realloc(l->paths, sizeof *p * cap);
        if (p)
            l->paths = p;
        int *b = p ? realloc(l->labels, sizeof *b * cap) : NULL;
        if (!b)
            return nf_fail(NF_ERR_NOMEM, "out of memory for %zu images", l->n + n);
        l->labels = b;
        l->cap = cap;
    }
    for (size_t i = 0; i < n; i++) {
        l->paths[l->n] = paths[i];
        l->labels[l->n++] = label;
    }
    return NF_OK;
}

/* The folder's images: its PNG files, or those of its subfolders (a class each). */
static nf_status find_images(const char *path, image_list *l)
{
    memset(l, 0, sizeof *l);
    char **files, **dirs;
    size_t n_files, n_dirs;
    nf_status st = names_in(path, 0, &files, &n_files);
    if (st)
        return st;
    if ((st = names_in(path, 1, &dirs, &n_dirs))) {
        n_dirs = 0;
    } else if (n_files && n_dirs) {
        st = nf_fail(NF_ERR_FORMAT, "%s: holds both PNG files and subfolders (%s): images in the folder itself, "
                                    "or a subfolder per class, not both", path, dirs[0]);
    } else if (n_files) {
        st = add_images(l, files, n_files, 0);
        if (!st)
            n_files = 0; /* the list owns them */
    } else {
        for (size_t k = 0; !st && k < n_dirs; k++) {
            char **in;
            size_t n_in;
            if (!(st = names_in(dirs[k], 0, &in, &n_in)) && !(st = add_images(l, in, n_in, (int)k)))
                n_in = 0;
            for (size_t i = 0; i < n_in; i++)
                free(in[i]);
            free(in);
        }
        l->classes = (int)n_dirs;
    }
    if (!st && !l->n)
        st = nf_fail(NF_ERR_FORMAT, "%s: no PNG files in the folder%s", path,
                     n_dirs ? " nor in its subfolders" : " (nor subfolders of them, a class each)");
    for (size_t i = 0; i < n_files; i++)
        free(files[i]);
    for (size_t i = 0; i < n_dirs; i++)
        free(dirs[i]);
    free(files);
    free(dirs);
    if (st)
        list_free(l);
    return st;
}

typedef struct png_failure {
    jmp_buf jump;
    char message[160];
} png_failure;

static void on_png_error(png_structp png, png_const_charp message)
{
    png_failure *f = png_get_error_ptr(png);
    snprintf(f->message, sizeof f->message, "%s", message);
    longjmp(f->jump, 1);
}

static void on_png_warning(png_structp png, png_const_charp message)
{
    (void)png;
    (void)message;
}

/* One PNG: with dst NULL its height, width and channels into shape; else
 * its values into dst, refused unless its shape is `shape`. */
static nf_status read_png(const char *path, int shape[3], float *dst)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return nf_fail(NF_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    unsigned char sig[8];
    if (fread(sig, 1, sizeof sig, fp) != sizeof sig || png_sig_cmp(sig, 0, sizeof sig)) {
        fclose(fp);
        return nf_fail(NF_ERR_FORMAT, "%s: not a PNG file", path);
    }
    png_failure fail;
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &fail, on_png_error, on_png_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    unsigned char *volatile pixels = NULL;
    png_bytep *volatile rows = NULL;
    nf_status st = NF_OK;
    if (!info) {
        st = nf_fail(NF_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    if (setjmp(fail.jump)) {
        st = nf_fail(NF_ERR_FORMAT, "%s: %s", path, fail.message);
        goto done;
    }
    png_init_io(png, fp);
    png_set_sig_bytes(png, sizeof sig);
    png_set_user_limits(png, MAX_SIDE, MAX_SIDE);
    png_read_info(png, info);
    int depth = png_get_bit_depth(png, info), type = png_get_color_type(png, info);
    if (depth == 16) {
        st = nf_fail(NF_ERR_FORMAT, "%s: 16 bits per value: 8-bit images only", path);
        goto done;
    }
    if (type == PNG_COLOR_TYPE_PALETTE)
        png_set_palette_to_rgb(png);
    if (type == PNG_COLOR_TYPE_GRAY && depth < 8)
        png_set_expand_gray_1_2_4_to_8(png);
    if (png_get_valid(png, info, PNG_INFO_tRNS))
        png_set_tRNS_to_alpha(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    int s[3] = {(int)png_get_image_height(png, info), (int)png_get_image_width(png, info),
                (int)png_get_channels(png, info)};
    if (!dst) {
        memcpy(shape, s, sizeof s);
        goto done;
    }
    if (memcmp(s, shape, sizeof s)) {
        st = nf_fail(NF_ERR_FORMAT, "%s: %d x %d x %d, the first image %d x %d x %d: every image needs the same "
                                    "size and channels", path, s[0], s[1], s[2], shape[0], shape[1], shape[2]);
        goto done;
    }
    size_t row_bytes = (size_t)s[1] * (size_t)s[2];
    if (png_get_rowbytes(png, info) != row_bytes || !(pixels = malloc(row_bytes * (size_t)s[0])) ||
        !(rows = malloc(sizeof *rows * (size_t)s[0]))) {
        st = nf_fail(NF_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    for (int i = 0; i < s[0]; i++)
        rows[i] = pixels + (size_t)i * row_bytes;
    png_read_image(png, rows);
    png_read_end(png, NULL);
    for (size_t k = 0; k < row_bytes * (size_t)s[0]; k++)
        dst[k] = pixels[k];
done:
    png_destroy_read_struct(png ? &png : NULL, info ? &info : NULL, NULL);
    free(pixels);
    free(rows);
    fclose(fp);
    return st;
}

/* Keeps the columns of a column list, in its order. */
static nf_status select_columns(const char *path, const dio_colspec *cs, nf_matrix *m)
{
    size_t *idx = NULL, nsel = 0;
    nf_status st = dio_colspec_resolve(path, cs, m->cols, &idx, &nsel);
    size_t n = m->rows * nsel;
    float *kept = st ? NULL : malloc(sizeof *kept * (n > 0 ? n : 1));
    if (!st && !kept)
        st = nf_fail(NF_ERR_NOMEM, "%s: out of memory", path);
    for (size_t r = 0; kept && r < m->rows; r++)
        for (size_t k = 0; k < nsel; k++)
            kept[r * nsel + k] = m->values[r * m->cols + idx[k]];
    if (kept) {
        free(m->values);
        m->values = kept;
        m->cols = nsel;
    }
    free(idx);
    return st;
}

nf_status dio_read_png_folder(const char *path, const dio_colspec *cs, nf_matrix *out, int image[3])
{
    image_list l;
    nf_status st = find_images(path, &l);
    if (st)
        return st;
    int shape[3];
    size_t cols = 0;
    if (!(st = read_png(l.paths[0], shape, NULL))) {
        cols = (size_t)shape[0] * (size_t)shape[1] * (size_t)shape[2];
        if (cols > MAX_ROW_VALUES)
            st = nf_fail(NF_ERR_FORMAT, "%s: images of %zu values: more than this reader takes (%d)", l.paths[0],
                         cols, MAX_ROW_VALUES);
        else if (l.n > SIZE_MAX / sizeof(float) / cols || !(out->values = malloc(sizeof(float) * l.n * cols)))
            st = nf_fail(NF_ERR_NOMEM, "%s: %zu images of %zu values: out of memory", path, l.n, cols);
    }
    for (size_t i = 0; !st && i < l.n; i++)
        st = read_png(l.paths[i], shape, out->values + i * cols);
    if (!st) {
        out->rows = l.n;
        out->cols = cols;
        if (cs->text)
            st = select_columns(path, cs, out);
    }
    if (!st && image)
        memcpy(image, shape, sizeof shape);
    list_free(&l);
    return st;
}

nf_status dio_read_png_folder_labels(const char *path, nf_matrix *out)
{
    memset(out, 0, sizeof *out);
    image_list l;
    nf_status st = find_images(path, &l);
    if (st)
        return st;
    if (!l.classes)
        st = nf_fail(NF_ERR_FORMAT, "%s: its images lie in the folder itself: labels come from a subfolder per class",
                     path);
    else if (!(out->values = malloc(sizeof(float) * l.n)))
        st = nf_fail(NF_ERR_NOMEM, "%s: out of memory", path);
    for (size_t i = 0; !st && i < l.n; i++)
        out->values[i] = (float)l.labels[i];
    if (!st) {
        out->rows = l.n;
        out->cols = 1;
    }
    list_free(&l);
    return st;
}
