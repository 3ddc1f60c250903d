// Files written by h5py read correctly here, and files written here read in h5dump and h5py.
import Foundation
import HDF5
import Testing
import TestSupport

@Suite struct InteropTests {
    let folder = TemporaryFolder()
    let fixture = Bundle.module.path(forResource: "h5py_fixture", ofType: "h5", inDirectory: "Fixtures")!

    @Test func readsAFileWrittenByH5py() throws {
        let file = try HDF5File.open(fixture)
        #expect(try file.dataset("float32", as: Float.self).shape == [2, 3, 4])
        #expect(try file.dataset("float32", as: Float.self).read() == (0..<24).map { Float($0) / 8 })
        #expect(try file.dataset("float16", as: Float16.self).read() == (0..<10).map { (Float16($0) - 5) / 4 })
        #expect(try file.dataset("float64", as: Double.self).read() == (0..<5).map { Double($0) / 4 })
        #expect(try file.dataset("uint8", as: UInt8.self).read() == (0...255).map { UInt8($0) })
        #expect(try file.dataset("int64", as: Int64.self).read() == (0..<6).map { -Int64($0) * 1_000_000_007 })
        let chunked = try file.dataset("chunked/gzip_int32", as: Int32.self)
        #expect(try chunked.read(rowIndices: [999, 0, 500]) == [2997, 0, 1500])
        #expect(try file.info("chunked/gzip_int32").filters == ["shuffle", "gzip(4)"])
        #expect(try file.attribute("title") == .string("written by h5py"))
        #expect(try file.attribute("names") == .strings(["alpha", "beta", "gamma"]))
        #expect(try file.attribute("fixed") == .strings(["ab", "cde"]))
        #expect(try file.attribute("count") == .int(42))
        #expect(try file.attribute("scale") == .double(0.5))
        #expect(try file.attribute("vector") == .doubles([1.5, -2, 3.25]))
        #expect(try file.dataset("float32", as: Float.self).attribute("unit") == .string("eighths"))
    }

    func writeSample() throws -> String {
        let path = folder.file("ours.h5")
        let file = try HDF5File.create(path)
        try file.createDataset("half", values: [Float16(0.5), -1.25, 1000], shape: [3], storage: .rows(2, shuffle: true, gzip: 4))
        try file.createDataset("group/bytes", values: [UInt8](0..<12), shape: [3, 4])
        try file.setAttribute("classes", ["T-shirt/top", "Trouser"])
        try file.setAttribute("schema_version", 1)
        try file.flush()
        return path
    }

    @Test(.enabled(if: which("h5dump") != nil, "h5dump is not installed (make deps installs hdf5-tools)"))
    func h5dumpReadsOurFiles() throws {
        let path = try writeSample()
        let result = try run(which("h5dump")!, [path])
        #expect(result.status == 0, "h5dump failed: \(result.error)")
        #expect(result.output.contains("\"T-shirt/top\""))
        #expect(result.output.contains("0.5, -1.25, 1000"))
        #expect(result.output.contains("8, 9, 10, 11"))
    }

    @Test(.enabled(if: h5pyAvailable, "python3 with h5py is not available"))
    func h5pyReadsOurFiles() throws {
        let path = try writeSample()
        let script = """
            import h5py, numpy as np, sys
            f = h5py.File(sys.argv[1], "r")
            assert f["half"].dtype == np.float16, f["half"].dtype
            assert list(f["half"][:]) == [0.5, -1.25, 1000.0]
            assert f["group/bytes"].dtype == np.uint8 and f["group/bytes"].shape == (3, 4)
            assert int(f["group/bytes"][2, 3]) == 11
            assert list(f.attrs["classes"]) == ["T-shirt/top", "Trouser"], f.attrs["classes"]
            assert int(f.attrs["schema_version"]) == 1
            print("ok")
            """
        let result = try run(which("python3")!, ["-c", script, path])
        #expect(result.status == 0 && result.output.contains("ok"), "h5py check failed: \(result.error)")
    }
}
