/* Writing a file so that readers see either the old file or the complete
 * new one: write a temporary file in the same folder, flush it to disk, and
 * rename it over the target. Used by every writer in the library.
 *
 * What the path is decides how: a symbolic link is followed (the file it
 * names is replaced, the link stays; a dangling link is refused); a
 * character device or a FIFO (/dev/null, a pipe) is written directly, as
 * no rename can replace it; a folder, a block device or a socket is
 * refused. Where the system has O_TMPFILE (Linux) the temporary file has no
 * name until it is complete, so a killed process leaves nothing behind;
 * elsewhere a killed write can leave PATH.tmp.XXXXXX, which the next write
 * of the same output removes (and which is safe to delete). */
#ifndef NF_ATOMIC_FILE_H
#define NF_ATOMIC_FILE_H

#include <stdio.h>

#include "nflow.h"

typedef struct atomic_file {
    FILE *fp;          /* write here between open and commit */
    char *tmp_path;    /* NULL when writing directly */
    char *path;        /* the file written: a link's target */
    int anonymous;     /* written through O_TMPFILE: no name until commit */
} atomic_file;

nf_status atomic_open(atomic_file *a, const char *path);
/* Checks the stream for write errors, flushes, fsyncs and renames. On any
 * failure the temporary file is removed and the target left as it was. */
nf_status atomic_commit(atomic_file *a);
/* Gives up: closes and removes the temporary file. Safe after commit. */
void atomic_abort(atomic_file *a);

#endif
