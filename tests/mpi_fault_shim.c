/* Preloaded (LD_PRELOAD, through mpirun -x) into the processes of an MPI
 * test job (tests/cli_mpi.sh): the process of rank FAULT_MPI_KILL_RANK
 * kills itself with SIGKILL at its FAULT_MPI_KILL_AT-th MPI_Allreduce, as a
 * crashed machine would; the other ranks must not hang. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <mpi.h>
#include <signal.h>
#include <stdlib.h>

int MPI_Allreduce(const void *send, void *recv, int count, MPI_Datatype type, MPI_Op op, MPI_Comm comm)
{
    static int calls;
    static int (*real)(const void *, void *, int, MPI_Datatype, MPI_Op, MPI_Comm);
    if (!real)
        *(void **)&real = dlsym(RTLD_NEXT, "MPI_Allreduce");
    const char *at = getenv("FAULT_MPI_KILL_AT"), *who = getenv("FAULT_MPI_KILL_RANK");
    const char *me = getenv("OMPI_COMM_WORLD_RANK");
    if (at && who && me && atoi(who) == atoi(me) && ++calls >= atoi(at))
        raise(SIGKILL);
    return real(send, recv, count, type, op, comm);
}
