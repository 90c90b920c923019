// Open MPI. Its communicators, datatypes and constants are macros over globals that Swift
// cannot import; the functions below expose the ones ExpertStream uses.
#ifndef EXPERTSTREAM_CMPI_SHIM_H
#define EXPERTSTREAM_CMPI_SHIM_H

#include <mpi.h>

static inline MPI_Comm es_MPI_COMM_WORLD(void) { return MPI_COMM_WORLD; }
static inline MPI_Datatype es_MPI_BYTE(void) { return MPI_BYTE; }
static inline MPI_Datatype es_MPI_INT64_T(void) { return MPI_INT64_T; }
static inline MPI_Datatype es_MPI_DOUBLE(void) { return MPI_DOUBLE; }
static inline MPI_Op es_MPI_SUM(void) { return MPI_SUM; }
static inline int es_MPI_ANY_SOURCE(void) { return MPI_ANY_SOURCE; }
static inline int es_MPI_SUCCESS(void) { return MPI_SUCCESS; }
static inline int es_MPI_THREAD_FUNNELED(void) { return MPI_THREAD_FUNNELED; }

#endif
