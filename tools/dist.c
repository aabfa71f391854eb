/* MPI for nflow train (tools/dist.h): one MPI_Allreduce per step through
 * nf_train_options.reduce. A process that fails ends the job: MPI's default
 * error handler on MPI_COMM_WORLD is fatal, so the others are stopped by
 * mpirun instead of waiting in a reduction (docs/distributed.md). */
#include "dist.h"

#include <stdio.h>
#include <stdlib.h>

#ifdef NF_MPI
#include <mpi.h>

static int rank, ranks = 1, joined;

int dist_begin(int *argc, char ***argv)
{
    /* only under mpirun (Open MPI sets OMPI_COMM_WORLD_SIZE): a plain run
     * stays a plain process, without the runtime's start-up */
    if (!getenv("OMPI_COMM_WORLD_SIZE") && !getenv("PMI_SIZE") && !getenv("PMIX_RANK"))
        return 0;
    if (MPI_Init(argc, argv) != MPI_SUCCESS) {
        fprintf(stderr, "nflow: MPI_Init failed\n");
        return 1;
    }
    joined = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &ranks);
    return 0;
}

void dist_end(void)
{
    if (joined)
        MPI_Finalize();
    joined = 0;
}

int dist_rank(void) { return rank; }
int dist_ranks(void) { return ranks; }

int dist_reduce(void *buf, size_t n, int is_double, void *user)
{
    (void)user;
    /* counts above INT_MAX in pieces (a gradient of 2^31 floats is 8 GB) */
    enum { PIECE = 1 << 30 };
    size_t size = is_double ? sizeof(double) : sizeof(float);
    for (size_t at = 0; at < n; at += PIECE) {
        int count = (int)(n - at < PIECE ? n - at : PIECE);
        if (MPI_Allreduce(MPI_IN_PLACE, (char *)buf + at * size, count, is_double ? MPI_DOUBLE : MPI_FLOAT, MPI_SUM,
                          MPI_COMM_WORLD) != MPI_SUCCESS)
            return 1;
    }
    return 0;
}

void dist_abort(int code)
{
    if (joined)
        MPI_Abort(MPI_COMM_WORLD, code);
}

const char *dist_describe(void)
{
    static char text[MPI_MAX_LIBRARY_VERSION_STRING + 16];
    char version[MPI_MAX_LIBRARY_VERSION_STRING];
    int len = 0;
    MPI_Get_library_version(version, &len);
    for (int i = 0; i < len; i++)
        if (version[i] == '\n' || version[i] == ',')
            version[i] = '\0';
    snprintf(text, sizeof text, "%s", version);
    return text;
}

#else

int dist_begin(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    return 0;
}
void dist_end(void) {}
int dist_rank(void) { return 0; }
int dist_ranks(void) { return 1; }
int dist_reduce(void *buf, size_t n, int is_double, void *user)
{
    (void)buf, (void)n, (void)is_double, (void)user;
    return 0;
}
void dist_abort(int code) { (void)code; }
const char *dist_describe(void) { return ""; }

#endif
