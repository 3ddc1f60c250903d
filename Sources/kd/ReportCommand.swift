// `kd report`: the table, report files and chart again, from the finished runs.
import ArgumentParser
import Pipeline

/// `kd report`: the report again from finished runs.
struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report", abstract: "Rebuild the result table, runs/<name>/report.{md,json} and accuracy.svg from the finished runs, training nothing.")
    @OptionGroup var config: ConfigOption

    func run() throws {
        let (pipeline, _) = try config.load()
        print(try ReportStage.run(pipeline))
    }
}
