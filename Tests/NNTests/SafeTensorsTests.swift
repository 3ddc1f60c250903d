// The safetensors reader: mnist_student saved by PyTorch in F32, F16 and BF16
// (scripts/make_safetensors_fixture.py) must load and give PyTorch's logits; widening of known bit
// patterns by hand; and every malformed file an error naming the file and the tensor.
import Checkpoints
import Foundation
import HDF5
import NN
import Tensor
import Testing
import TestSupport

@Suite struct SafeTensorsTests {
    /// A file of Fixtures/safetensors.
    static func fixture(_ name: String, _ type: String = "safetensors") -> String {
        Bundle.module.path(forResource: name, ofType: type, inDirectory: "Fixtures/safetensors")!
    }

    static let classes = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]

    /// One tensor of a hand-written file: its name, safetensors dtype, shape and raw bytes.
    struct Stored {
        let name: String
        let dtype: String
        let shape: [Int]
        let bytes: [UInt8]
    }

    /// The little-endian bytes of `values`.
    static func bytes<T: FixedWidthInteger>(_ values: [T]) -> [UInt8] {
        values.flatMap { withUnsafeBytes(of: $0.littleEndian, Array.init) }
    }

    /// The little-endian bytes of float32 `values`.
    static func bytes(_ values: [Float]) -> [UInt8] { bytes(values.map(\.bitPattern)) }

    /// Writes a safetensors file built by hand: the header JSON from `tensors` (packed in order)
    /// and `metadata`, then the bytes.
    static func write(_ tensors: [Stored], metadata: [String: String]? = nil, to path: String) throws {
        var header: [String: Any] = [:]
        var data: [UInt8] = []
        for tensor in tensors {
            header[tensor.name] = ["dtype": tensor.dtype, "shape": tensor.shape, "data_offsets": [data.count, data.count + tensor.bytes.count]]
            data += tensor.bytes
        }
        if let metadata { header["__metadata__"] = metadata }
        let json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        try write(header: Array(json), data: data, to: path)
    }

    /// Writes `header` with its length (or `length`) in front, then `data`.
    static func write(header: [UInt8], length: UInt64? = nil, data: [UInt8] = [], to path: String) throws {
        let bytes = Self.bytes([length ?? UInt64(header.count)]) + header + data
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }

    /// mnist_student's state_dict (seed 1) as float32 tensors of a hand-written file.
    static func studentTensors() throws -> [Stored] {
        try model().stateDict().map { Stored(name: $0.name, dtype: "F32", shape: $0.tensor.shape, bytes: bytes($0.tensor.scalars)) }
    }

    static func model() throws -> any Classifier {
        try Models.make("mnist_student", classes: 10, inChannels: 1, imageSize: 28, seed: 1)
    }

    /// The error `body` throws, as text ("no error" when it throws none).
    static func failure(_ body: () throws -> Void) -> String {
        do { try body() } catch { return "\(error)" }
        return "no error"
    }

    // MARK: - PyTorch's files

    @Test(arguments: ["f32", "f16", "bf16"])
    func loadsPyTorchFileAndGivesItsLogits(dtype: String) throws {
        let expected = try HDF5File.open(Self.fixture("expected", "h5"))
        let path = Self.fixture("mnist_student_\(dtype)")
        let model = try Self.model()
        try Checkpoint.load(path, into: model)
        model.train(false)
        let logits = model(try Checkpoint.read("input", from: expected))
        let reference = try Checkpoint.read("logits/\(dtype)", from: expected)
        #expect(logits.shape == reference.shape)
        let difference = zip(logits.scalars, reference.scalars).map { Double(Swift.abs($0 - $1)) }.map { $0.isNaN ? .infinity : $0 }.max() ?? .infinity
        print("safetensors \(dtype): largest |logit difference| \(difference)")
        #expect(difference < 1e-5, "\(dtype): largest |logit difference| \(difference)")

        // The widened weights are exactly PyTorch's `.to(dtype).float()`, in the file and in the model.
        let weights = try Checkpoint.read("weights/\(dtype)", from: expected).scalars
        #expect(try SafeTensorsFile(path: path).tensor("conv1.weight").scalars == weights)
        let loaded = model.stateDict().first { $0.name == "conv1.weight" }!.tensor
        #expect(loaded.scalars == weights)
        #expect(loaded.shape == [8, 1, 3, 3])
    }

    @Test func entriesAndFloat64Reads() throws {
        let file = try SafeTensorsFile(path: Self.fixture("mnist_student_f16"))
        #expect(file.entries.keys.sorted() == ["conv1.bias", "conv1.weight", "conv2.bias", "conv2.weight",
                                               "fc1.bias", "fc1.weight", "fc2.bias", "fc2.weight"])
        #expect(file.entries["fc1.weight"]?.dtype == "F16")
        #expect(file.entries["fc1.weight"]?.shape == [32, 2304])
        let single = try file.tensor("fc2.weight")
        let double = try file.tensor("fc2.weight", dtype: .float64)
        #expect(double.dtype == .float64 && single.dtype == .float32)
        #expect(double.doubles == single.doubles)  // half values are exact in both
    }

    @Test func metadataMapsToAttributes() throws {
        let full: [String: AttributeValue] = ["arch": "mnist_student", "classes": .strings(Self.classes), "input_mean": .doubles([0.286]),
                                              "input_std": .doubles([0.353]), "num_classes": .int(10)]
        let f32 = Self.fixture("mnist_student_f32")
        #expect(try SafeTensorsFile(path: f32).metadata["input_mean"] == "0.286")
        #expect(try Checkpoint.attributes(f32) == full)
        #expect(try Checkpoint.load(f32, into: Self.model()) == full)
        #expect(try Checkpoint.attributes(Self.fixture("mnist_student_f16")) == ["arch": "mnist_student"])
        let bf16 = Self.fixture("mnist_student_bf16")
        #expect(try SafeTensorsFile(path: bf16).metadata.isEmpty)
        #expect(try Checkpoint.attributes(bf16).isEmpty)

        let folder = TemporaryFolder()
        let several = folder.file("several.safetensors")
        try Self.write([], metadata: ["input_mean": "0.5, 0.25,1", "num_classes": "3", "classes": "a,b", "note": "1.5"], to: several)
        #expect(try Checkpoint.attributes(several) == ["input_mean": .doubles([0.5, 0.25, 1]), "num_classes": .int(3),
                                                       "classes": .strings(["a", "b"]), "note": "1.5"])
        let bad = folder.file("bad.safetensors")
        try Self.write([], metadata: ["input_std": "0.3,x"], to: bad)
        let message = Self.failure { _ = try Checkpoint.attributes(bad) }
        #expect(message.contains(bad) && message.contains("input_std"), "\(message)")
    }

    @Test func hdf5AttributesCountTheClasses() throws {
        let folder = TemporaryFolder()
        let path = folder.file("model.h5")
        try Checkpoint.save(try Self.model(), to: path, attributes: ["classes": .strings(["a", "b", "c"])])
        let attributes = try Checkpoint.attributes(path)
        #expect(attributes["num_classes"] == .int(3))
        #expect(attributes["arch"] == "mnist_student")
        #expect(attributes["classes"] == .strings(["a", "b", "c"]))
    }

    // MARK: - Widening by hand

    @Test func widensKnownBitPatterns() throws {
        let folder = TemporaryFolder()
        let path = folder.file("types.safetensors")
        try Self.write([
            Stored(name: "bf16", dtype: "BF16", shape: [5], bytes: Self.bytes([0x3F80, 0xC000, 0x3FC0, 0x7F80, 0x0000] as [UInt16])),
            Stored(name: "f16", dtype: "F16", shape: [2, 3], bytes: Self.bytes([0x3C00, 0x7BFF, 0xC000, 0x3555, 0x0001, 0xFC00] as [UInt16])),
            Stored(name: "f64", dtype: "F64", shape: [], bytes: Self.bytes([(0.1 as Double).bitPattern])),
            Stored(name: "i64", dtype: "I64", shape: [2], bytes: Self.bytes([-3, 1 << 40] as [Int64])),
            Stored(name: "i32", dtype: "I32", shape: [2], bytes: Self.bytes([7, -1] as [Int32])),
            Stored(name: "f32", dtype: "F32", shape: [1, 2], bytes: Self.bytes([1.5, -0.25] as [Float])),
        ], to: path)
        let file = try SafeTensorsFile(path: path)
        #expect(try file.tensor("bf16").scalars == [1, -2, 1.5, .infinity, 0])
        let half = try file.tensor("f16")
        #expect(half.shape == [2, 3])
        #expect(half.scalars == [1, 65504, -2, 0.333251953125, 0x1p-24, -.infinity])
        let scalar = try file.tensor("f64", dtype: .float64)
        #expect(scalar.shape == [] && scalar.doubles == [0.1])
        #expect(try file.tensor("f64").scalars == [Float(0.1)])
        #expect(try file.tensor("i64", dtype: .float64).doubles == [-3, 1_099_511_627_776])
        #expect(try file.tensor("i32").scalars == [7, -1])
        #expect(try file.tensor("f32").scalars == [1.5, -0.25])
    }

    // MARK: - Malformed files

    @Test func truncatedFiles() throws {
        let folder = TemporaryFolder()
        let whole = try Data(contentsOf: URL(fileURLWithPath: Self.fixture("mnist_student_f32")))
        let headerEnd = 8 + Int(whole.prefix(8).withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) })

        let tiny = folder.file("tiny.safetensors")
        try whole.prefix(5).write(to: URL(fileURLWithPath: tiny))
        let short = Self.failure { _ = try SafeTensorsFile(path: tiny) }
        #expect(short.contains(tiny) && short.contains("5 bytes"), "\(short)")

        // Cut inside conv2.weight, the first tensor (in name order) that no longer fits.
        let cut = folder.file("cut.safetensors")
        try whole.prefix(headerEnd + 1000).write(to: URL(fileURLWithPath: cut))
        let outside = Self.failure { try Checkpoint.load(cut, into: Self.model()) }
        #expect(outside.contains(cut) && outside.contains("'conv2.weight'") && outside.contains("outside the 1000 bytes"), "\(outside)")

        let missing = folder.file("absent.safetensors")
        let unreadable = Self.failure { _ = try SafeTensorsFile(path: missing) }
        #expect(unreadable.contains(missing) && unreadable.contains("cannot be read"), "\(unreadable)")
    }

    @Test func badHeaders() throws {
        let folder = TemporaryFolder()
        let beyond = folder.file("beyond.safetensors")
        try Self.write(header: Array("{}".utf8), length: 1000, to: beyond)
        let tooLong = Self.failure { _ = try SafeTensorsFile(path: beyond) }
        #expect(tooLong.contains(beyond) && tooLong.contains("header length 1000"), "\(tooLong)")

        let cases: [(header: String, expected: String)] = [
            ("{\"a\": {\"dtype\": ", "header is not JSON"),
            ("[1, 2]", "header is not a JSON object"),
            ("{\"w\": 3}", "'w' is not an object"),
            ("{\"w\": {\"shape\": [1], \"data_offsets\": [0, 4]}}", "'w' has no dtype"),
            ("{\"w\": {\"dtype\": \"F32\", \"data_offsets\": [0, 4]}}", "'w' has no shape"),
            ("{\"w\": {\"dtype\": \"F32\", \"shape\": [-1], \"data_offsets\": [0, 4]}}", "'w' has no shape"),
            ("{\"w\": {\"dtype\": \"F32\", \"shape\": [1]}}", "'w' has no data_offsets"),
            ("{\"w\": {\"dtype\": \"U8\", \"shape\": [1], \"data_offsets\": [0, 1]}}", "'w' has dtype U8; supported: F32, F16, BF16, F64, I64, I32"),
            ("{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 8]}}", "'w': data_offsets [4, 8] lie outside the 4 bytes of data"),
            ("{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 0]}}", "'w': data_offsets [4, 0] lie outside"),
            ("{\"fc.weight\": {\"dtype\": \"F32\", \"shape\": [10, 2], \"data_offsets\": [0, 40]}}", "'fc.weight': 40 bytes for shape [10, 2] of F32 (80 expected)"),
            ("{\"__metadata__\": {\"arch\": 3}}", "'__metadata__' is not an object of strings"),
        ]
        for (index, (header, expected)) in cases.enumerated() {
            let path = folder.file("header\(index).safetensors")
            try Self.write(header: Array(header.utf8), data: [UInt8](repeating: 0, count: expected.contains("fc.weight") ? 40 : 4), to: path)
            let message = Self.failure { _ = try SafeTensorsFile(path: path) }
            #expect(message.contains(path) && message.contains(expected), "\(header): \(message)")
        }
    }

    @Test func missingUnexpectedAndMisshapenTensors() throws {
        let folder = TemporaryFolder()
        let tensors = try Self.studentTensors()

        let whole = folder.file("whole.safetensors")
        try Self.write(tensors, metadata: ["arch": "mnist_student"], to: whole)
        let file = try SafeTensorsFile(path: whole)
        let noName = Self.failure { _ = try file.tensor("fc3.weight") }
        #expect(noName.contains(whole) && noName.contains("has no tensor 'fc3.weight'"), "\(noName)")
        try Checkpoint.load(whole, into: Self.model())  // the hand-written file itself is good

        let missing = folder.file("missing.safetensors")
        try Self.write(tensors.filter { $0.name != "fc2.bias" }, to: missing)
        let noTensor = Self.failure { try Checkpoint.load(missing, into: Self.model()) }
        #expect(noTensor.contains(missing) && noTensor.contains("has no 'fc2.bias' (expected by mnist_student)"), "\(noTensor)")

        let unexpected = folder.file("unexpected.safetensors")
        try Self.write(tensors + [Stored(name: "fc3.weight", dtype: "F32", shape: [1], bytes: Self.bytes([0] as [Float]))], to: unexpected)
        let extra = Self.failure { try Checkpoint.load(unexpected, into: Self.model()) }
        #expect(extra.contains(unexpected) && extra.contains("has 'fc3.weight', which mnist_student does not have"), "\(extra)")

        let misshapen = folder.file("misshapen.safetensors")
        try Self.write(tensors.map { $0.name == "fc2.bias" ? Stored(name: $0.name, dtype: "F32", shape: [2, 5], bytes: $0.bytes) : $0 },
                       to: misshapen)
        let shape = Self.failure { try Checkpoint.load(misshapen, into: Self.model()) }
        #expect(shape.contains(misshapen) && shape.contains("'fc2.bias' has shape [2, 5], mnist_student expects [10]"), "\(shape)")

        let otherArch = folder.file("resnet.safetensors")
        try Self.write(tensors, metadata: ["arch": "resnet8"], to: otherArch)
        let arch = Self.failure { try Checkpoint.load(otherArch, into: Self.model()) }
        #expect(arch.contains(otherArch) && arch.contains("holds a resnet8, not a mnist_student"), "\(arch)")
    }
}
