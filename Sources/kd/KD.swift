// The `kd` executable: argument parsing only; every stage lives in the Pipeline module.
import ArgumentParser
import Foundation
import Pipeline

@main
struct KD: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kd",
        abstract: "A cache-first knowledge-distillation pipeline.",
        discussion: """
            Stages: data (import image sources), teacher (train the teacher), precompute (cache the
            teacher's outputs), verify-cache, distill (students from the cache, and the result
            table), eval (a checkpoint's accuracy), inspect (look at any HDF5 file the pipeline writes).
            """,
        subcommands: [DataCommand.self, InspectCommand.self, TeacherCommand.self, EvalCommand.self, PrecomputeCommand.self,
                      VerifyCacheCommand.self, DistillCommand.self])

    /// Parses and runs; a failing stage prints one line (`kd: <file>: <problem>`) and exits 1.
    static func main() {
        var command: ParsableCommand
        do { command = try parseAsRoot() } catch { exit(withError: error) }
        do {
            try command.run()
        } catch let error as ExitCode {
            exit(withError: error)
        } catch {
            fflush(nil)
            FileHandle.standardError.write(Data("kd: \(failureMessage(error))\n".utf8))
            Foundation.exit(1)
        }
    }
}
