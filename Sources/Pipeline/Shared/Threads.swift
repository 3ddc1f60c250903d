// The thread count stages run their kernels with when none is given.
import Parallel

/// The machine's cores: what `--threads` defaults to.
public var defaultThreads: Int { ComputeThreads.count }
