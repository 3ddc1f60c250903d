// oneDNN's OpenMP threads (libgomp) wait for work by spinning for a few milliseconds unless
// OMP_WAIT_POLICY says otherwise, and the engine's own Swift workers run beside them: spinning
// threads then take the cores those workers need (BENCHMARKS.md, "conv: oneDNN convolutions against
// im2col": training steps at 2 threads ran 1.7-4.4x slower with the default policy than with
// `passive`). libgomp reads the variable once, when it is loaded, before any Swift code runs,
// so `kd` sets it and starts itself again; an explicit setting is left alone.
import Foundation

enum WaitPolicy {
    /// Re-executes the process with `OMP_WAIT_POLICY=passive` when the variable is unset. Returns
    /// (and runs on with libgomp's default) only if that fails.
    static func applyDefault() {
        guard ProcessInfo.processInfo.environment["OMP_WAIT_POLICY"] == nil else { return }
        setenv("OMP_WAIT_POLICY", "passive", 1)
        execv("/proc/self/exe", CommandLine.unsafeArgv)
        unsetenv("OMP_WAIT_POLICY")
    }
}
