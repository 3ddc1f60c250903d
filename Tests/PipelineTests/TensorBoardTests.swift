// The TensorBoard event file: the protocol buffer bytes against values worked out by
// hand, the file read back by TensorBoard's own event reader when it is installed, and metrics.jsonl
// lines of earlier versions read.
import Foundation
@testable import Pipeline
import Testing
import TestSupport

let tensorBoardAvailable: Bool = {
    guard let python = which("python3") else { return false }
    return (try? run(python, ["-c", "from tensorboard.backend.event_processing import event_accumulator"]).status) == 0
}()

@Suite struct TensorBoardTests {
    @Test func eventBytesWorkedOutByHand() {
        let bytes = [UInt8](TensorBoardLog.event(wallTime: 2, step: 300, scalars: [("a", 1)]))
        // wall_time: tag 0x09, 2.0 as little-endian double; step: tag 0x10, varint 300 = ac 02;
        // summary: tag 0x2a, 10 bytes: value (0x0a, 8 bytes): tag (0x0a, 1, "a"), simple_value (0x15, 1.0f).
        #expect(bytes == [0x09, 0, 0, 0, 0, 0, 0, 0, 0x40, 0x10, 0xac, 0x02, 0x2a, 10, 0x0a, 8, 0x0a, 1, 0x61, 0x15, 0, 0, 0x80, 0x3f])
        let framed = [UInt8](TensorBoardLog.record(Data(bytes)))
        #expect(framed.count == 8 + 4 + bytes.count + 4 && framed.prefix(8) == [24, 0, 0, 0, 0, 0, 0, 0])
    }

    @Test(.enabled(if: tensorBoardAvailable, "needs python3 with tensorboard (pip install tensorboard)"))
    func tensorBoardReadsTheFile() throws {
        let folder = TemporaryFolder("kd-tensorboard")
        let records = (1...3).map { epoch in
            EpochRecord(epoch: epoch, run: "kd", trainLoss: 1 / Double(epoch), trainAccuracy: 0.5, testLoss: 0.4, testAccuracy: 0.8 + Double(epoch) / 100,
                        perClassAccuracy: [], learningRate: 0.05, seconds: 2, imagesPerSecond: 1000)
        }
        try TensorBoardLog.write(records, to: RunFolder(folder.path).events)
        let script = """
            import sys
            from tensorboard.backend.event_processing import event_accumulator
            ea = event_accumulator.EventAccumulator(sys.argv[1]); ea.Reload()
            print(sorted(ea.Tags()['scalars']))
            print([(e.step, round(e.value, 4)) for e in ea.Scalars('test/accuracy')])
            """
        let result = try run(which("python3")!, ["-c", script, folder.path])
        #expect(result.status == 0, "\(result.error)")
        #expect(result.output.contains("['images_per_second', 'learning_rate', 'test/accuracy', 'test/loss', 'train/accuracy', 'train/loss']"), "\(result.output)")
        #expect(result.output.contains("[(1, 0.81), (2, 0.82), (3, 0.83)]"), "\(result.output)")
    }
}

@Suite struct MetricsLogTests {
    /// A metrics.jsonl line of an earlier version (`stage` before it was `run`) still reads, so
    /// runs trained before keep resuming and reporting.
    @Test func earlierLinesRead() throws {
        let folder = TemporaryFolder("kd-metrics")
        let line = #"{"epoch":1,"stage":"teacher","train_loss":0.5,"train_accuracy":0.8,"test_loss":0.4,"test_accuracy":0.85,"per_class_accuracy":[0.9],"learning_rate":0.05,"seconds":12,"images_per_second":5000}"#
        try Data((line + "\n").utf8).write(to: URL(fileURLWithPath: folder.file("metrics.jsonl")))
        let records = try MetricsLog(path: folder.file("metrics.jsonl")).records()
        #expect(records.count == 1 && records[0].run == "teacher" && records[0].seconds == 12 && records[0].extra == nil)
        // And this version's lines say `run`.
        try MetricsLog(path: folder.file("metrics.jsonl")).append(records[0])
        let text = try String(contentsOfFile: folder.file("metrics.jsonl"), encoding: .utf8)
        #expect(text.split(separator: "\n").last?.contains(#""run":"teacher""#) == true, "\(text)")
    }
}
