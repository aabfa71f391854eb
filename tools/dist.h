/* Several processes for one training run (nflow train under mpirun; the
 * tool built with `make MPI=1`). Without MPI these say: one process. */
#ifndef NF_TOOL_DIST_H
#define NF_TOOL_DIST_H

#include <stddef.h>

/* Joins the job when the tool was started by mpirun (MPI_Init); alone
 * otherwise. Returns 0, or 1 with a message when MPI cannot start. */
int dist_begin(int *argc, char ***argv);
void dist_end(void);
int dist_rank(void);
int dist_ranks(void);
/* nf_train_options.reduce: sums buf across the processes in place. */
int dist_reduce(void *buf, size_t n, int is_double, void *user);
/* Ends every process of the job with this exit status (MPI_Abort); returns
 * only without MPI. */
void dist_abort(int code);
/* "MPI" and the library's version, or "" without MPI (for info --system). */
const char *dist_describe(void);

#endif
