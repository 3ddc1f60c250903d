// Reading files that may be gzip-compressed (dataset downloads such as `*-ubyte.gz`, `*.csv.gz`).
internal import CZlib
import Foundation

/// A compressed file that could not be inflated.
public struct GzipError: Error, CustomStringConvertible, Sendable {
    /// The file being read.
    public let file: String
    /// What zlib reported.
    public let message: String
    public var description: String { "\(file): \(message)" }
}

enum Gzip {
    /// The contents of `path`, inflated when it starts with the gzip magic bytes.
    static func readMaybeCompressed(_ path: String) throws -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw GzipError(file: path, message: "cannot read the file")
        }
        let bytes = [UInt8](data)
        guard bytes.count >= 2, bytes[0] == 0x1f, bytes[1] == 0x8b else { return bytes }
        return try inflate(bytes, name: path)
    }

    /// Inflates a gzip (or zlib) stream, including several concatenated gzip members.
    static func inflate(_ input: [UInt8], name: String) throws -> [UInt8] {
        var output = [UInt8]()
        output.reserveCapacity(input.count * 4)
        var stream = z_stream()
        // 15 window bits + 32: detect the gzip or zlib header automatically.
        guard inflateInit2_(&stream, 15 + 32, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw GzipError(file: name, message: "cannot start zlib")
        }
        defer { inflateEnd(&stream) }
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        try input.withUnsafeBytes { inBuffer in
            stream.next_in = UnsafeMutablePointer(mutating: inBuffer.bindMemory(to: Bytef.self).baseAddress)
            stream.avail_in = uInt(inBuffer.count)
            while true {
                let status = chunk.withUnsafeMutableBytes { outBuffer -> Int32 in
                    stream.next_out = outBuffer.bindMemory(to: Bytef.self).baseAddress
                    stream.avail_out = uInt(outBuffer.count)
                    return CZlib.inflate(&stream, Z_NO_FLUSH)
                }
                output.append(contentsOf: chunk[0..<(chunk.count - Int(stream.avail_out))])
                if status == Z_STREAM_END {
                    if stream.avail_in == 0 { return }
                    inflateReset(&stream) // another gzip member follows
                } else if status != Z_OK {
                    let detail = stream.msg.map { String(cString: $0) } ?? "zlib status \(status)"
                    throw GzipError(file: name, message: "corrupt or truncated gzip data: \(detail)")
                } else if stream.avail_in == 0 && stream.avail_out != 0 {
                    throw GzipError(file: name, message: "truncated gzip data")
                }
            }
        }
        return output
    }
}
