// `make bench`: measurements behind BENCHMARKS.md. Each section prints a markdown table;
// `kdbench SECTION...` runs only the named sections.
import Foundation

@main
struct KDBench {
    static let sections: [(name: String, run: @Sendable () throws -> Void)] = [
        ("data", DataBench.run),
        ("engine", EngineBench.run),
        ("gemm", GEMMBench.run),
        ("conv", ConvolutionBench.run),
        ("conv-step", ConvolutionBench.trainingSteps),
        ("cache", CacheBench.run),
        ("precompute", PrecomputeBench.run),
        ("join", JoinBench.run),
        ("imagenet", ImageNetEstimate.run),
    ]

    static func main() throws {
        let wanted = Set(CommandLine.arguments.dropFirst())
        for section in sections where wanted.isEmpty || wanted.contains(section.name) {
            print("\n## \(section.name)\n")
            try section.run()
        }
    }
}

/// Median wall time in seconds of `repeats` runs of `body`, after `warmUps` untimed runs.
func medianSeconds(repeats: Int, warmUps: Int = 1, _ body: () throws -> Void) rethrows -> Double {
    for _ in 0..<warmUps { try body() }
    var times: [Double] = []
    for _ in 0..<repeats {
        let start = DispatchTime.now().uptimeNanoseconds
        try body()
        times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
    }
    times.sort()
    return times[times.count / 2]
}

/// A markdown table row.
func row(_ cells: [String]) -> String { "| " + cells.joined(separator: " | ") + " |" }

/// A benchmark asked to run in a way it cannot (a malformed `KDBENCH_*` setting), with the reason.
struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
