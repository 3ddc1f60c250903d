// The `kd` executable's own surface: help for every level of command, and usage errors that say
// what was wrong, each with ArgumentParser's exit codes (0 for help, 64 for a usage error).
import Testing
import TestSupport

@Suite struct CommandLineTests {
    let kd = Repository.products + "/kd"

    @Test func helpPrintsUsageAndExitsZero() throws {
        for arguments in [["--help"], ["distill", "--help"], ["data", "fashion-mnist", "-h"], ["cache", "join", "--help"]] {
            let result = try run(kd, arguments)
            let command = (["kd"] + arguments.dropLast()).joined(separator: " ")
            #expect(result.status == 0, "\(arguments): exit \(result.status), \(result.error)")
            #expect(result.output.contains("USAGE: \(command)"), "\(arguments): \(result.output)")
            #expect(result.error.isEmpty, "\(arguments): \(result.error)")
        }
    }

    @Test func anUnknownOptionIsAUsageErrorNamingIt() throws {
        let result = try run(kd, ["distill", "--epochz", "3"])
        #expect(result.status == 64, "exit \(result.status)")
        #expect(result.error.contains("Unknown option '--epochz'") && result.error.contains("Usage: kd distill"), "\(result.error)")
    }
}
