// The `kd` executable: argument parsing only; every stage lives in the Pipeline module.
import ArgumentParser
import Foundation
import Pipeline

/// The root command: one subcommand per pipeline stage, plus verify-cache, eval and inspect.
@main
struct KD: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kd",
        abstract: "A cache-first knowledge-distillation pipeline.",
        discussion: """
            Stages: data (import image sources), teacher (train the teacher), precompute (cache the \
            teacher's outputs; in shards under mpirun or with --shard), cache (join shards, materialize), \
            verify-cache, distill (students from the cache, and the result table), report (the table \
            again from finished runs), eval (a checkpoint's accuracy), import-checkpoint (a safetensors \
            or HDF5 state_dict from elsewhere as a kd checkpoint), inspect (look at any HDF5 file the pipeline writes).
            """,
        subcommands: [DataCommand.self, TeacherCommand.self, PrecomputeCommand.self, CacheCommand.self, VerifyCacheCommand.self, DistillCommand.self,
                      ReportCommand.self, EvalCommand.self, ImportCheckpointCommand.self, InspectCommand.self])

    /// Parses and runs; a failing stage prints one line (`kd: <file>: <problem>`) and exits 1.
    /// `--help` parses to ArgumentParser's own help command, whose `run()` throws the request:
    /// that goes back to ArgumentParser, which prints the help and exits 0.
    static func main() {
        WaitPolicy.applyDefault()
        var command: ParsableCommand
        do { command = try parseAsRoot() } catch { exit(withError: error) }
        do {
            try command.run()
        } catch where error is ExitCode || exitCode(for: error) == .success {
            exit(withError: error)
        } catch {
            fflush(nil)
            FileHandle.standardError.write(Data("kd: \(failureMessage(error))\n".utf8))
            Foundation.exit(1)
        }
    }
}
