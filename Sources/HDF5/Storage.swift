// How a dataset is laid out on disk: contiguous or chunked, with optional filters.

/// The storage of a new dataset: chunking and filters. Chunking is required for filters and for
/// extendible datasets; a dataset with neither is contiguous unless chunks are asked for.
public struct Storage: Sendable, Equatable {
    /// How the dataset is cut into chunks.
    public enum Chunking: Sendable, Equatable {
        /// Contiguous when possible, otherwise chunks of about 1 MiB of whole rows.
        case automatic
        /// Chunks of this many rows (the other dimensions whole).
        case rows(Int)
        /// An explicit chunk shape, one entry per dimension.
        case shape([Int])
    }

    /// How the dataset is cut into chunks (`automatic` by default).
    public var chunking: Chunking
    /// Byte-shuffle filter before compression (helps gzip on multi-byte numbers).
    public var shuffle: Bool
    /// gzip (deflate) level 1-9, or nil for none.
    public var gzip: Int?
    /// Whether the first dimension may grow (`append`).
    public var extendible: Bool
    /// Whether all chunks are allocated at creation (no fill values written): afterwards, writes
    /// change raw data only, never the file's metadata, so a killed writer cannot corrupt it.
    public var allocateEarly: Bool

    /// Storage from its parts; the defaults give contiguous, unfiltered, fixed-size storage.
    public init(chunking: Chunking = .automatic, shuffle: Bool = false, gzip: Int? = nil, extendible: Bool = false,
                allocateEarly: Bool = false) {
        self.chunking = chunking
        self.shuffle = shuffle
        self.gzip = gzip
        self.extendible = extendible
        self.allocateEarly = allocateEarly
    }

    /// Contiguous storage, no filters.
    public static let contiguous = Storage()

    /// Chunks of `rows` rows with the given filters.
    public static func rows(_ rows: Int, shuffle: Bool = false, gzip: Int? = nil, extendible: Bool = false) -> Storage {
        Storage(chunking: .rows(rows), shuffle: shuffle, gzip: gzip, extendible: extendible)
    }

    var needsChunks: Bool { extendible || shuffle || gzip != nil || chunking != .automatic || allocateEarly }

    /// The chunk shape for a dataset of `shape` and `elementSize` bytes, or nil for contiguous.
    func chunkShape(for shape: [Int], elementSize: Int) -> [Int]? {
        guard !shape.isEmpty, needsChunks else { return nil }
        let rowElements = shape.dropFirst().reduce(1, *)
        var chunk: [Int]
        switch chunking {
        case .shape(let explicit):
            chunk = explicit
        case .rows(let rows):
            chunk = [rows] + shape.dropFirst()
        case .automatic:
            let rows = max(1, (1 << 20) / max(1, rowElements * elementSize))
            chunk = [rows] + shape.dropFirst()
        }
        // A fixed dimension cannot have chunks larger than itself; an empty one still needs 1.
        for axis in chunk.indices {
            let limit = axis == 0 && extendible ? Int.max : max(1, shape[axis])
            chunk[axis] = max(1, min(chunk[axis], limit))
        }
        return chunk
    }
}
