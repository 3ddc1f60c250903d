// Open MPI for Swift: the library's header plus inline accessors for the handles that are macros
// over addresses of globals (MPI_COMM_WORLD, the datatypes, the reduction operations, MPI_IN_PLACE), which Swift
// cannot import. No API of its own; Sources/Cluster is the Swift side.
#include <mpi.h>

static inline MPI_Comm kd_MPI_COMM_WORLD(void) { return MPI_COMM_WORLD; }
static inline MPI_Datatype kd_MPI_INT64_T(void) { return MPI_INT64_T; }
static inline MPI_Datatype kd_MPI_CHAR(void) { return MPI_CHAR; }
static inline MPI_Datatype kd_MPI_FLOAT(void) { return MPI_FLOAT; }
static inline MPI_Datatype kd_MPI_DOUBLE(void) { return MPI_DOUBLE; }
static inline void *kd_MPI_IN_PLACE(void) { return MPI_IN_PLACE; }
static inline MPI_Op kd_MPI_SUM(void) { return MPI_SUM; }
static inline int kd_MPI_SUCCESS(void) { return MPI_SUCCESS; }
static inline int kd_MPI_MAX_ERROR_STRING(void) { return MPI_MAX_ERROR_STRING; }
static inline MPI_Errhandler kd_MPI_ERRORS_RETURN(void) { return MPI_ERRORS_RETURN; }
