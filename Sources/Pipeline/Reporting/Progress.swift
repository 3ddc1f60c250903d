// A progress bar for long stages: count, rate and time left, on standard error.
import Foundation

/// Prints progress of a long loop to standard error: a bar redrawn in place on a terminal, or a
/// line every 10% when the output is a file or a pipe (CI logs stay short).
public final class ProgressBar {
    private let title: String
    private let total: Int
    private let unit: String
    private let start = Date()
    private let interactive = isatty(STDERR_FILENO) != 0
    private var lastDraw = Date.distantPast
    private var lastDecile = -1
    /// Seconds when `done` reached `total`, so the final line reports the rate of the work itself.
    private var completedAfter: Double?

    /// A bar titled `title` for `total` items counted in `unit`.
    public init(_ title: String, total: Int, unit: String = "img") {
        self.title = title
        self.total = max(1, total)
        self.unit = unit
    }

    /// Reports that `done` of `total` items are finished; `extra` is appended (loss, accuracy...).
    public func update(_ done: Int, extra: String = "") {
        let now = Date()
        if done >= total && completedAfter == nil { completedAfter = now.timeIntervalSince(start) }
        let decile = done * 10 / total
        if interactive {
            guard done == total || now.timeIntervalSince(lastDraw) > 0.1 else { return }
        } else {
            guard decile != lastDecile, done < total else { return }
        }
        lastDraw = now
        lastDecile = decile
        let line = render(done, extra: extra, elapsed: now.timeIntervalSince(start))
        FileHandle.standardError.write(Data((interactive ? "\r\u{1B}[2K" + line : line + "\n").utf8))
    }

    /// Ends the bar with a final line.
    public func finish(extra: String = "") {
        let line = render(total, extra: extra, elapsed: completedAfter ?? Date().timeIntervalSince(start))
        FileHandle.standardError.write(Data((interactive ? "\r\u{1B}[2K" + line + "\n" : line + "\n").utf8))
    }

    private func render(_ done: Int, extra: String, elapsed: Double) -> String {
        let width = 24
        let filled = min(width, done * width / total)
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        let rate = elapsed > 0 ? Double(done) / elapsed : 0
        let left = rate > 0 ? Double(total - done) / rate : 0
        var line = "\(title) [\(bar)] \(done)/\(total) \(formatRate(rate)) \(unit)/s"
        line += done < total ? " ETA \(formatDuration(left))" : " in \(formatDuration(elapsed))"
        return extra.isEmpty ? line : line + " " + extra
    }
}

/// `1234.5` as `1.2k`, small rates with one decimal.
func formatRate(_ rate: Double) -> String {
    rate >= 10_000 ? String(format: "%.1fk", rate / 1000) : String(format: rate >= 100 ? "%.0f" : "%.1f", rate)
}

/// Seconds as `42s`, `3m05s` or `1h02m`.
public func formatDuration(_ seconds: Double) -> String {
    let total = Int(seconds.rounded())
    if total < 60 { return seconds < 10 ? String(format: "%.1fs", seconds) : "\(total)s" }
    if total < 3600 { return String(format: "%dm%02ds", total / 60, total % 60) }
    return String(format: "%dh%02dm", total / 3600, total % 3600 / 60)
}

/// Bytes as `512 B`, `3.4 KiB`, `45.1 MiB`, `1.20 GiB`.
public func formatBytes(_ bytes: Int) -> String {
    let value = Double(bytes)
    if bytes < 1024 { return "\(bytes) B" }
    if value < 1024 * 1024 { return String(format: "%.1f KiB", value / 1024) }
    if value < 1024 * 1024 * 1024 { return String(format: "%.1f MiB", value / 1024 / 1024) }
    return String(format: "%.2f GiB", value / 1024 / 1024 / 1024)
}
