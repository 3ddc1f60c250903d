// `kd distill`: the students, from the cache, and the result table; under mpirun, over the ranks.
import ArgumentParser
import Cluster
import Pipeline

/// `kd distill`: the pipeline's students from the cache.
struct DistillCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "distill", abstract: "Train the pipeline's students from the cache and print the result table.",
        discussion: """
            Under mpirun (or srun) the (student, seed) runs are dealt to the ranks, each training its runs \
            with its share of the host's cores, and rank 0 prints the table when all are done. Students \
            with data_parallel: true (or every student that can, with --data-parallel) train on every rank \
            at once instead, each rank taking a slice of every batch: the same weights as one process, to \
            float rounding.
            """)
    @OptionGroup var config: ConfigOption
    @OptionGroup var threads: ThreadsOption
    @Option(help: "Train only this student.") var student: String?
    @Option(help: "Train only this seed.") var seed: UInt64?
    @Flag(help: "Compute the teacher's targets live instead of reading the cache (runs go to runs/<name>/online/).")
    var onlineTeacher = false
    @Flag(help: "Train the chosen students from scratch instead of resuming or reusing finished runs.") var restart = false
    @Flag(help: "Under mpirun, train every student that can on all ranks at once (as data_parallel: true on each).")
    var dataParallel = false

    func run() throws {
        let (pipeline, text) = try config.load()
        var options = DistillOptions()
        (options.student, options.seed, options.onlineTeacher, options.restart, options.threads) = (student, seed, onlineTeacher, restart, threads.count)
        options.dataParallel = dataParallel
        let world = try MPIWorld.joinIfLaunched()
        defer { try? world?.finalize() }
        if let world {
            // The ranks on one host share its cores.
            options.threads = threads.threads ?? max(1, defaultThreads / MPIWorld.localSize)
            options.world = world
        }
        try DistillStage.run(pipeline, configText: text, options: options)
    }
}
