/* A folder of PNG images as a data matrix (nf_matrix_read of a folder): the
 * PNG files in it, or in its class subfolders (one per class, as
 * torchvision's ImageFolder lays them out), in the order of their names. */
#ifndef NF_DATA_PNG_FOLDER_H
#define NF_DATA_PNG_FOLDER_H

#include "data/columns.h"

/* A row per image, its pixels row by row with their channels innermost,
 * as stored (1 grey, 2 grey + alpha, 3 RGB, 4 RGBA; a palette as RGB(A)),
 * values 0..255; every image the same size and channels, 8 bits deep. The
 * columns of cs. image (NULL: not wanted): height, width, channels. */
nf_status dio_read_png_folder(const char *path, const dio_colspec *cs, nf_matrix *out, int image[3]);
/* The class of each image of such a folder: the index of its subfolder
 * among them (by name), one column; refused for a folder without class
 * subfolders. */
nf_status dio_read_png_folder_labels(const char *path, nf_matrix *out);

#endif
