// `kd report`: the result table, report.md, report.json and the accuracy chart rebuilt from the
// students' finished runs, without training anything.
import Datasets
import Foundation

/// Writes and returns the report of a pipeline's finished runs.
public enum ReportStage {
    /// The table of the teacher and every student with a finished or stopped seed.
    @discardableResult
    public static func run(_ config: PipelineConfig) throws -> String {
        let source = try openImageSource(config.data.train)
        return try Report.write(config, teacher: try Report.teacherResult(config, images: source.count))
    }
}
