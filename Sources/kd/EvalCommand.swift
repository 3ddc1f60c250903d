// `kd eval`: a checkpoint's accuracy.
import ArgumentParser
import Pipeline

/// `kd eval`: a checkpoint's accuracy on labelled images.
struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval", abstract: "Top-1 and per-class accuracy of a checkpoint on a packed HDF5 file or PNG folder.")
    @Option(help: "The checkpoint (.h5 or .safetensors).") var checkpoint: String
    @Option(help: "The labelled images.") var data: String
    @OptionGroup var facts: CheckpointFactsOptions

    func run() throws {
        print(try EvalStage.run(checkpoint: checkpoint, data: data, fallback: try facts.fallback()).1)
    }
}
