// An SVG line chart of test accuracy per epoch: one line per student (the mean over its seeds,
// main stage), the teacher's accuracy as a dashed line. Plain SVG 1.1 that browsers and GitHub show.
import Foundation

enum AccuracyChart {
    /// One line: a label and accuracy (0...1) per epoch, epochs from 1.
    struct Series {
        var label: String
        var accuracies: [Double]
    }

    static let palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]

    /// The mean test accuracy per epoch over the seeds' metrics.jsonl files of each student.
    static func series(_ config: PipelineConfig) -> [Series] {
        (config.students ?? []).compactMap { student in
            let perSeed = student.seeds.compactMap { seed in
                try? MetricsLog(path: RunLayout(config).student(student.name, seed: seed).metrics).records().map(\.testAccuracy)
            }.filter { !$0.isEmpty }
            guard let shortest = perSeed.map(\.count).min() else { return nil }
            let mean = (0..<shortest).map { epoch in perSeed.reduce(0) { $0 + $1[epoch] } / Double(perSeed.count) }
            return Series(label: student.name, accuracies: mean)
        }
    }

    static func svg(_ series: [Series], teacherAccuracy: Double?, title: String) -> String {
        let (width, height) = (720.0, 420.0)
        let (left, right, top, bottom) = (60.0, 150.0, 40.0, 50.0)
        let epochs = max(2, series.map(\.accuracies.count).max() ?? 2)
        let values = series.flatMap(\.accuracies) + (teacherAccuracy.map { [$0] } ?? [])
        let low = max(0, ((values.min() ?? 0) * 100 / 5).rounded(.down) * 5)
        let high = min(100, ((values.max() ?? 1) * 100 / 5).rounded(.up) * 5)
        let span = max(high - low, 5)
        func x(_ epoch: Int) -> Double { left + Double(epoch - 1) / Double(epochs - 1) * (width - left - right) }
        func y(_ accuracy: Double) -> Double { top + (1 - (accuracy * 100 - low) / span) * (height - top - bottom) }
        func f(_ v: Double) -> String { String(format: "%.1f", v) }
        var lines = ["<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" font-family=\"sans-serif\" font-size=\"12\">",
                     "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>",
                     "<text x=\"\(f(width / 2 - right / 2))\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">\(escape(title))</text>"]
        let step = span > 40 ? 10.0 : span > 15 ? 5.0 : 1.0
        for tick in stride(from: low, through: low + span, by: step) {
            let ty = y(tick / 100)
            lines.append("<line x1=\"\(f(left))\" y1=\"\(f(ty))\" x2=\"\(f(width - right))\" y2=\"\(f(ty))\" stroke=\"#e0e0e0\"/>")
            lines.append("<text x=\"\(f(left - 6))\" y=\"\(f(ty + 4))\" text-anchor=\"end\">\(Int(tick))</text>")
        }
        for epoch in 1...epochs {
            lines.append("<text x=\"\(f(x(epoch)))\" y=\"\(f(height - bottom + 18))\" text-anchor=\"middle\">\(epoch)</text>")
        }
        lines.append("<text x=\"\(f((left + width - right) / 2))\" y=\"\(f(height - 12))\" text-anchor=\"middle\">epoch</text>")
        lines.append("<text transform=\"translate(16 \(f((top + height - bottom) / 2))) rotate(-90)\" text-anchor=\"middle\">test accuracy %</text>")
        // An external teacher whose accuracy was not measured has no line.
        if let teacherAccuracy {
            lines.append("<line x1=\"\(f(left))\" y1=\"\(f(y(teacherAccuracy)))\" x2=\"\(f(width - right))\" y2=\"\(f(y(teacherAccuracy)))\" stroke=\"black\" stroke-dasharray=\"6 4\"/>")
            lines.append("<text x=\"\(f(left + 6))\" y=\"\(f(y(teacherAccuracy) - 5))\">teacher \(String(format: "%.2f", 100 * teacherAccuracy))</text>")
        }
        for (index, line) in series.enumerated() {
            let colour = palette[index % palette.count]
            let points = line.accuracies.enumerated().map { "\(f(x($0.offset + 1))),\(f(y($0.element)))" }.joined(separator: " ")
            lines.append("<polyline fill=\"none\" stroke=\"\(colour)\" stroke-width=\"2\" points=\"\(points)\"/>")
            let legendY = top + 20 + Double(index) * 18
            lines.append("<line x1=\"\(f(width - right + 8))\" y1=\"\(f(legendY))\" x2=\"\(f(width - right + 28))\" y2=\"\(f(legendY))\" stroke=\"\(colour)\" stroke-width=\"2\"/>")
            let last = line.accuracies.last.map { String(format: " %.2f", 100 * $0) } ?? ""
            lines.append("<text x=\"\(f(width - right + 34))\" y=\"\(f(legendY + 4))\">\(escape(line.label))\(last)</text>")
        }
        lines.append("</svg>")
        return lines.joined(separator: "\n") + "\n"
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }
}
