// `kd distill`: the students, from the cache, and the result table.
import ArgumentParser
import Pipeline

/// `kd distill`: the pipeline's students from the cache.
struct DistillCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "distill", abstract: "Train the pipeline's students from the cache and print the result table.")
    @OptionGroup var config: ConfigOption
    @OptionGroup var threads: ThreadsOption
    @Option(help: "Train only this student.") var student: String?
    @Option(help: "Train only this seed.") var seed: UInt64?
    @Flag(help: "Compute the teacher's targets live instead of reading the cache (runs go to runs/<name>/online/).")
    var onlineTeacher = false
    @Flag(help: "Train the chosen students from scratch instead of resuming or reusing finished runs.") var restart = false

    func run() throws {
        let (pipeline, text) = try config.load()
        var options = DistillOptions()
        (options.student, options.seed, options.onlineTeacher, options.restart, options.threads) = (student, seed, onlineTeacher, restart, threads.count)
        try DistillStage.run(pipeline, configText: text, options: options)
    }
}
