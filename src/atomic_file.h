/* Writing a file so that readers see either the old file or the complete
 * new one: write a temporary file in the same folder, flush it to disk, and
 * rename it over the target. Used by every writer in the library. */
#ifndef NF_ATOMIC_FILE_H
#define NF_ATOMIC_FILE_H

#include <stdio.h>

#include "nflow.h"

typedef struct atomic_file {
    FILE *fp;          /* write here between open and commit */
    char *tmp_path;
    char *path;
} atomic_file;

nf_status atomic_open(atomic_file *a, const char *path);
/* Checks the stream for write errors, flushes, fsyncs and renames. On any
 * failure the temporary file is removed and the target left as it was. */
nf_status atomic_commit(atomic_file *a);
/* Gives up: closes and removes the temporary file. Safe after commit. */
void atomic_abort(atomic_file *a);

#endif
