// `kd import-checkpoint`: a teacher from another framework into the pipeline's HDF5 checkpoint.
import ArgumentParser
import Pipeline

/// `kd import-checkpoint FILE --output T.h5`: checks a safetensors (or HDF5) state_dict against the
/// zoo's model and writes the pipeline's checkpoint.
struct ImportCheckpointCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import-checkpoint",
        abstract: "Check a safetensors (or HDF5) state_dict against the zoo's model and write it as a kd checkpoint.")
    @Argument(help: "The checkpoint (.safetensors or .h5).") var file: String
    @Option(help: "The HDF5 checkpoint to write.") var output: String
    @Option(help: "Image height and width the model takes.") var imageSize = 32
    @OptionGroup var facts: CheckpointFactsOptions

    func run() throws {
        print(try ImportCheckpointStage.run(file, output: output, imageSize: imageSize, fallback: try facts.fallback()))
    }
}
