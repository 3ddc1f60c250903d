// `kd teacher` and `kd eval`.
import ArgumentParser
import Pipeline

/// The pipeline file every stage reads.
struct ConfigOption: ParsableArguments {
    @Option(help: "The pipeline file.") var config = "pipelines/fashion-mnist.yaml"
}

struct TeacherCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "teacher", abstract: "Train the pipeline's teacher (resumes from runs/<name>/teacher/last.h5).")
    @OptionGroup var config: ConfigOption
    @Flag(help: "Start again from scratch instead of resuming.") var restart = false

    func run() throws {
        let (pipeline, text) = try PipelineConfig.load(config.config)
        try TeacherStage.run(pipeline, configText: text, restart: restart)
    }
}

struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval", abstract: "Top-1 and per-class accuracy of a checkpoint on a packed HDF5 file or PNG folder.")
    @Option(help: "The checkpoint (.h5).") var checkpoint: String
    @Option(help: "The labelled images.") var data: String

    func run() throws {
        print(try EvalStage.run(checkpoint: checkpoint, data: data).1)
    }
}
