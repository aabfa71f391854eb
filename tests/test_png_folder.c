/* A folder of PNG images as data (src/data/png_folder.c): the values as
 * stored, the files in the order of their names, every channel layout, the
 * class subfolders as labels, and the refusals, each naming the file. */
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "nflow.h"

static char root[64];

static void write_png(const char *path, int h, int w, int format, int depth16, const unsigned char *values)
{
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    img.width = (png_uint_32)w;
    img.height = (png_uint_32)h;
    img.format = (png_uint_32)format | (depth16 ? PNG_FORMAT_FLAG_LINEAR : 0);
    unsigned short wide[64 * 4];
    const void *data = values;
    if (depth16) { /* a 16-bit file: linear values */
        for (int k = 0; k < h * w * (int)PNG_IMAGE_SAMPLE_CHANNELS(format); k++)
            wide[k] = (unsigned short)(values[k] * 257);
        data = wide;
    }
    CHECK(png_image_write_to_file(&img, path, 0, data, 0, NULL), "%s: %s", path, img.message);
}

static char *at(const char *name)
{
    static char buf[4][160];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", root, name);
    return buf[k];
}

/* image i's values: distinct per image and position */
static void image_values(int i, int n, unsigned char *v)
{
    for (int k = 0; k < n; k++)
        v[k] = (unsigned char)((i * 37 + k * 11) % 256);
}

static void test_grey_folder_in_name_order(void)
{
    mkdir(at("grey"), 0700);
    unsigned char v[4 * 6];
    const char *names[] = {"grey/c.png", "grey/a.png", "grey/b.PNG"}; /* written out of order */
    int order[] = {2, 0, 1};                                         /* a, b, c */
    for (int i = 0; i < 3; i++) {
        image_values(order[i], 24, v);
        write_png(at(names[i]), 4, 6, PNG_FORMAT_GRAY, 0, v);
    }
    FILE *fp = fopen(at("grey/notes.txt"), "w"); /* not an image: left out, as a hidden file is */
    fputs("x\n", fp);
    fclose(fp);
    image_values(9, 24, v);
    write_png(at("grey/.hidden.png"), 4, 6, PNG_FORMAT_GRAY, 0, v);
    nf_matrix m;
    CHECK(nf_matrix_read(at("grey"), NULL, &m) == NF_OK, "%s", nf_last_error());
    CHECK(m.rows == 3 && m.cols == 24, "%zu x %zu", m.rows, m.cols);
    for (int i = 0; i < 3 && m.rows == 3; i++) {
        image_values(i, 24, v);
        for (int k = 0; k < 24; k++)
            CHECK(m.values[i * 24 + k] == v[k], "image %d value %d: %g, not %d", i, k, m.values[i * 24 + k], v[k]);
    }
    nf_matrix_free(&m);
    /* as data: an image of 4 x 6 x 1; a column list picks pixels (no longer an image) */
    nf_data_options o;
    nf_data_options_default(&o);
    o.val_fraction = o.test_fraction = 0;
    nf_data *d = NULL;
    int shape[3];
    CHECK(nf_data_read(&d, at("grey"), NULL, NULL, &o) == NF_OK, "%s", nf_last_error());
    CHECK(d && nf_data_image_shape(d, shape) && shape[0] == 4 && shape[1] == 6 && shape[2] == 1, "the image shape");
    nf_data_free(d);
    nf_read_options ro;
    nf_read_options_default(&ro);
    ro.columns = "5,0";
    CHECK(nf_matrix_read(at("grey"), &ro, &m) == NF_OK && m.cols == 2, "%s", nf_last_error());
    image_values(1, 24, v);
    CHECK(m.values[2] == v[5] && m.values[3] == v[0], "the columns of the list, in its order");
    nf_matrix_free(&m);
}

static void test_channels_as_stored(void)
{
    const struct {
        const char *folder;
        int format, channels;
    } kinds[] = {{"rgb", PNG_FORMAT_RGB, 3}, {"rgba", PNG_FORMAT_RGBA, 4}, {"ga", PNG_FORMAT_GA, 2}};
    for (int t = 0; t < 3; t++) {
        mkdir(at(kinds[t].folder), 0700);
        unsigned char v[3 * 2 * 4];
        int n = 3 * 2 * kinds[t].channels;
        for (int i = 0; i < 2; i++) {
            char name[64];
            snprintf(name, sizeof name, "%s/%d.png", kinds[t].folder, i);
            image_values(i + 5, n, v);
            write_png(at(name), 3, 2, kinds[t].format, 0, v);
        }
        nf_matrix m;
        int shape[3] = {0, 0, 0};
        nf_data_options o;
        nf_data_options_default(&o);
        o.val_fraction = o.test_fraction = 0;
        nf_data *d = NULL;
        CHECK(nf_matrix_read(at(kinds[t].folder), NULL, &m) == NF_OK && m.rows == 2 && m.cols == (size_t)n,
              "%s: %s", kinds[t].folder, nf_last_error());
        image_values(6, n, v);
        for (int k = 0; k < n && m.rows == 2; k++)
            CHECK(m.values[n + k] == v[k], "%s: value %d", kinds[t].folder, k);
        nf_matrix_free(&m);
        CHECK(nf_data_read(&d, at(kinds[t].folder), NULL, NULL, &o) == NF_OK && nf_data_image_shape(d, shape) &&
                  shape[2] == kinds[t].channels, "%s: %d channels", kinds[t].folder, shape[2]);
        nf_data_free(d);
    }
}

static void test_class_subfolders(void)
{
    mkdir(at("classes"), 0700);
    const char *classes[] = {"boot", "coat", "shirt"};
    unsigned char v[16];
    int count = 0;
    for (int c = 0; c < 3; c++) {
        char dir[64];
        snprintf(dir, sizeof dir, "classes/%s", classes[c]);
        mkdir(at(dir), 0700);
        for (int i = 0; i < 4 + c; i++, count++) {
            char name[96];
            snprintf(name, sizeof name, "%s/%02d.png", dir, i);
            image_values(count, 16, v);
            write_png(at(name), 4, 4, PNG_FORMAT_GRAY, 0, v);
        }
    }
    nf_data_options o;
    nf_data_options_default(&o);
    o.val_fraction = o.test_fraction = 0;
    o.label_files[0] = at("classes"); /* the folder of class subfolders is its own labels file */
    nf_data *d = NULL;
    CHECK(nf_data_read(&d, at("classes"), NULL, NULL, &o) == NF_OK, "%s", nf_last_error());
    CHECK(d && nf_data_label_classes(d) == 3 && nf_data_context_dim(d) == 3, "3 classes, one-hot");
    const float *x, *c;
    size_t rows = d ? nf_data_rows(d, NF_PART_TRAIN, &x, &c) : 0;
    CHECK(rows == 15, "%zu rows", rows);
    for (size_t r = 0; r < rows; r++) {
        int want = r < 4 ? 0 : r < 9 ? 1 : 2;
        CHECK(c[r * 3 + want] == 1 && c[r * 3 + (want + 1) % 3] == 0, "row %zu: class %d", r, want);
        image_values((int)r, 16, v);
        CHECK(floorf(x[r * 16 + 3]) == v[3], "row %zu is not image %zu", r, r); /* images are dequantised */
    }
    nf_data_free(d);
}

static void refused(const char *folder, const char *want)
{
    nf_matrix m;
    nf_status st = nf_matrix_read(at(folder), NULL, &m);
    CHECK(st != NF_OK && strstr(nf_last_error(), want), "%s: '%s' lacks '%s'", folder, nf_last_error(), want);
    CHECK(m.values == NULL && m.rows == 0, "%s: a refused folder left values", folder);
}

static void test_refusals(void)
{
    unsigned char v[64] = {0};
    mkdir(at("sizes"), 0700);
    write_png(at("sizes/a.png"), 4, 4, PNG_FORMAT_GRAY, 0, v);
    write_png(at("sizes/b.png"), 4, 5, PNG_FORMAT_GRAY, 0, v);
    refused("sizes", "sizes/b.png: 4 x 5 x 1, the first image 4 x 4 x 1");
    mkdir(at("mixed"), 0700);
    mkdir(at("mixed/sub"), 0700);
    write_png(at("mixed/a.png"), 4, 4, PNG_FORMAT_GRAY, 0, v);
    refused("mixed", "holds both PNG files and subfolders");
    mkdir(at("empty"), 0700);
    refused("empty", "no PNG files in the folder");
    mkdir(at("fake"), 0700);
    FILE *fp = fopen(at("fake/a.png"), "w");
    fputs("not really\n", fp);
    fclose(fp);
    refused("fake", "fake/a.png: not a PNG file");
    mkdir(at("wide"), 0700);
    write_png(at("wide/a.png"), 4, 4, PNG_FORMAT_GRAY, 1, v);
    refused("wide", "wide/a.png: 16 bits per value: 8-bit images only");
    mkdir(at("cut"), 0700); /* a file cut short: libpng's message, the file named */
    write_png(at("cut/a.png"), 4, 4, PNG_FORMAT_GRAY, 0, v);
    CHECK(truncate(at("cut/a.png"), 40) == 0, "truncate");
    refused("cut", "cut/a.png: ");
    /* labels from a folder without class subfolders */
    nf_data_options o;
    nf_data_options_default(&o);
    o.val_fraction = o.test_fraction = 0;
    o.label_files[0] = at("rgb");
    nf_data *d = NULL;
    CHECK(nf_data_read(&d, at("rgb"), NULL, NULL, &o) != NF_OK &&
              strstr(nf_last_error(), "labels come from a subfolder per class"), "%s", nf_last_error());
    nf_data_free(d);
}

int main(void)
{
    snprintf(root, sizeof root, "/tmp/test_png_folder_%d", (int)getpid());
    mkdir(root, 0700);
    RUN(test_grey_folder_in_name_order);
    RUN(test_channels_as_stored);
    RUN(test_class_subfolders);
    RUN(test_refusals);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    if (system(cmd) != 0)
        fprintf(stderr, "test_png_folder: could not remove %s\n", root);
    TEST_SUMMARY("test_png_folder");
}
