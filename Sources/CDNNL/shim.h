// oneDNN (Debian's libdnnl-dev, 2.x C API) for Swift: the library's header, the execution-argument
// numbers (macros defined through other macros), and the two OpenMP calls that set the size of the
// calling thread's team (Debian's build runs on libgomp; omp.h lives in GCC's private include
// folder, so they are declared here). No API of its own.
#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl_debug.h>

static inline int kd_DNNL_ARG_SRC(void) { return DNNL_ARG_SRC; }
static inline int kd_DNNL_ARG_DST(void) { return DNNL_ARG_DST; }
static inline int kd_DNNL_ARG_WEIGHTS(void) { return DNNL_ARG_WEIGHTS; }
static inline int kd_DNNL_ARG_BIAS(void) { return DNNL_ARG_BIAS; }
static inline int kd_DNNL_ARG_DIFF_SRC(void) { return DNNL_ARG_DIFF_SRC; }
static inline int kd_DNNL_ARG_DIFF_DST(void) { return DNNL_ARG_DIFF_DST; }
static inline int kd_DNNL_ARG_DIFF_WEIGHTS(void) { return DNNL_ARG_DIFF_WEIGHTS; }
static inline int kd_DNNL_ARG_SCRATCHPAD(void) { return DNNL_ARG_SCRATCHPAD; }
static inline int kd_DNNL_ARG_FROM(void) { return DNNL_ARG_FROM; }
static inline int kd_DNNL_ARG_TO(void) { return DNNL_ARG_TO; }
static inline int kd_DNNL_ARG_MEAN(void) { return DNNL_ARG_MEAN; }
static inline int kd_DNNL_ARG_VARIANCE(void) { return DNNL_ARG_VARIANCE; }
static inline int kd_DNNL_ARG_SCALE_SHIFT(void) { return DNNL_ARG_SCALE_SHIFT; }
static inline int kd_DNNL_ARG_DIFF_SCALE_SHIFT(void) { return DNNL_ARG_DIFF_SCALE_SHIFT; }

/// libgomp: the team size of the next parallel regions started by the calling thread.
void omp_set_num_threads(int threads);
/// libgomp: the team size the calling thread's next parallel region would get.
int omp_get_max_threads(void);
