// The size of oneDNN's thread team. Debian's oneDNN runs on OpenMP (libgomp), where every thread
// that calls into the library masters a team of its own, sized by that thread's setting: the
// wrapper sets it before each primitive is created (oneDNN plans its work split then) and run.
internal import CDNNL

enum OpenMP {
    /// Makes the calling thread's next parallel regions use `threads` threads.
    static func setThreads(_ threads: Int) {
        let wanted = Int32(Swift.max(1, threads))
        if omp_get_max_threads() != wanted { omp_set_num_threads(wanted) }
    }
}
