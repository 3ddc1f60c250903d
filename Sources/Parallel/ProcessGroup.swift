// The processes of one data-parallel training, as the kernels see them: sums across processes
// (gradients, batch-norm statistics, evaluation counts). Sources/Cluster implements it on MPI;
// nothing here knows MPI.

/// The processes that train one model together, each on its slice of every batch.
///
/// A collective is entered by every process in the same order with the same count. One that
/// fails cannot be recovered by a single process (the others would wait for ever), so an
/// implementation ends the whole launch with the error instead of returning it.
public protocol ProcessGroup: AnyObject, Sendable {
    /// This process's place, `0..<size`.
    var rank: Int { get }
    /// The number of processes.
    var size: Int { get }
    /// Replaces each of `values` with its sum over the processes (every process gets the same sums).
    func sum(_ values: UnsafeMutableBufferPointer<Float>)
    /// Replaces each of `values` with its sum over the processes (every process gets the same sums).
    func sum(_ values: UnsafeMutableBufferPointer<Double>)
}

extension ProcessGroup {
    /// `values` summed over the processes.
    public func summed(_ values: [Double]) -> [Double] {
        var result = values
        result.withUnsafeMutableBufferPointer { sum($0) }
        return result
    }

    /// The contiguous part of `0..<count` this process takes: equal shares in rank order (sizes
    /// differ by at most one).
    public func slice(of count: Int) -> Range<Int> {
        (count * rank / size)..<(count * (rank + 1) / size)
    }
}

/// The data-parallel group of the calling task or thread, if any: batch norm synchronises its
/// statistics over it while training.
public enum DataParallel {
    /// The group the calling code trains in (nil: alone).
    @TaskLocal public static var group: (any ProcessGroup)?
}
