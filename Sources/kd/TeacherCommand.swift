// `kd teacher`: train the pipeline's teacher.
import ArgumentParser
import Pipeline

/// `kd teacher`: trains the pipeline's teacher.
struct TeacherCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "teacher", abstract: "Train the pipeline's teacher (resumes from runs/<name>/teacher/last.h5).")
    @OptionGroup var config: ConfigOption
    @OptionGroup var threads: ThreadsOption
    @Flag(help: "Start again from scratch instead of resuming.") var restart = false

    func run() throws {
        let (pipeline, text) = try config.load()
        try TeacherStage.run(pipeline, configText: text, restart: restart, threads: threads.count)
    }
}
