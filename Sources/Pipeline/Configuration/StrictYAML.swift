// Decoding pipeline files strictly: the YAML is parsed by Yams and decoded by the types' own
// `Decodable`, while a tracker records which keys of every mapping the types asked for. A key no
// type asked for is a misspelling or a leftover (`lables: 100` would otherwise train with the
// default labels): it is an error naming the key, where it is, and the nearest known key. Syntax
// and type errors name the line and column.
import Foundation
import Yams

/// A key of a pipeline file that no setting reads.
public struct UnknownKeyError: Error, CustomStringConvertible {
    /// Dotted path of the mapping it is in (`students[2]`), empty at the top.
    public let path: String
    /// The unknown key as written.
    public let key: String
    /// The keys the types read in that mapping.
    public let known: [String]
    /// The key's line in the file, when known.
    public let line: Int?

    public var description: String {
        let place = (path.isEmpty ? key : path + "." + key) + (line.map { " (line \($0))" } ?? "")
        let nearest = known.min { editDistance($0, key) < editDistance($1, key) }
        let hint = nearest.map { editDistance($0, key) <= Swift.max(2, key.count / 3) ? "; did you mean '\($0)'?" : "" } ?? ""
        return "unknown key \(place)\(hint) The keys here are: \(known.sorted().joined(separator: ", "))"
    }
}

/// Levenshtein distance between two keys.
func editDistance(_ a: String, _ b: String) -> Int {
    let (x, y) = (Array(a), Array(b))
    guard !x.isEmpty, !y.isEmpty else { return Swift.max(x.count, y.count) }
    var previous = Array(0...y.count)
    for i in 1...x.count {
        var current = [i] + [Int](repeating: 0, count: y.count)
        for j in 1...y.count {
            current[j] = Swift.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x[i - 1] == y[j - 1] ? 0 : 1))
        }
        previous = current
    }
    return previous[y.count]
}

/// Decodes YAML text into `T`, refusing keys that `T` and the types inside it do not read.
func decodeStrictly<T: Decodable>(_ type: T.Type, from text: String) throws -> T {
    let parser = try Parser(yaml: text, resolver: Resolver.basic.appending(.merge))
    return try withExtendedLifetime(parser) {
        let root = try parser.singleRoot() ?? Node("")
        let tracker = KeyTracker()
        let value = try T(from: NodeDecoder(node: root, codingPath: [], tracker: tracker))
        if let unknown = tracker.firstUnknown() { throw unknown }
        return value
    }
}

/// Which keys each mapping holds and which the decoded types asked for, by path.
private final class KeyTracker {
    private var mappings: [(path: String, present: [(String, Int?)], asked: Set<String>)] = []
    private var index: [String: Int] = [:]

    func register(_ path: String, _ mapping: Node.Mapping) {
        guard index[path] == nil else { return }
        index[path] = mappings.count
        mappings.append((path, mapping.compactMap { key, _ in key.string.map { ($0, key.mark?.line) } }, []))
    }

    func asked(_ key: String, in path: String) {
        if let at = index[path] { mappings[at].asked.insert(key) }
    }

    func firstUnknown() -> UnknownKeyError? {
        for mapping in mappings {
            if let (key, line) = mapping.present.first(where: { !mapping.asked.contains($0.0) }) {
                return UnknownKeyError(path: mapping.path, key: key, known: Array(mapping.asked), line: line)
            }
        }
        return nil
    }
}

/// `students[2].optimizer`: a coding path as people write it.
private func pathText(_ path: [CodingKey]) -> String {
    path.reduce("") { text, key in
        if let index = key.intValue { return text + "[\(index)]" }
        return text.isEmpty ? key.stringValue : text + "." + key.stringValue
    }
}

private struct IndexKey: CodingKey {
    var stringValue: String
    var intValue: Int?
    init(_ index: Int) { (stringValue, intValue) = ("\(index)", index) }
    init?(stringValue: String) { (self.stringValue, intValue) = (stringValue, nil) }
    init?(intValue: Int) { self.init(intValue) }
}

/// " (line L, column C)" of a node, for messages.
private func place(_ node: Node) -> String { node.mark.map { " (line \($0.line), column \($0.column))" } ?? "" }

/// A mapping with YAML merge keys (`<<: *defaults`) folded in, the mapping's own keys winning.
private func flattened(_ mapping: Node.Mapping) -> Node.Mapping {
    var result = mapping
    for (key, value) in mapping where key.string == "<<" {
        result[key] = nil
        let sources: [Node] = value.sequence.map(Array.init) ?? [value]
        for case .mapping(let source) in sources {
            for (k, v) in flattened(source) where result[k] == nil { result[k] = v }
        }
    }
    return result
}

private struct NodeDecoder: Decoder, SingleValueDecodingContainer {
    let node: Node
    let codingPath: [CodingKey]
    let tracker: KeyTracker
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func mismatch(_ expected: String) -> DecodingError {
        DecodingError.typeMismatch(Any.self, .init(codingPath: codingPath, debugDescription: "expected \(expected)\(place(node))"))
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard case .mapping(let mapping) = node else { throw mismatch("a mapping of keys to values") }
        let flat = flattened(mapping)
        tracker.register(pathText(codingPath), flat)
        return KeyedDecodingContainer(KeyedNodeContainer<Key>(mapping: flat, decoder: self))
    }

    func unkeyedContainer() throws -> UnkeyedDecodingContainer {
        guard case .sequence(let sequence) = node else { throw mismatch("a list") }
        return UnkeyedNodeContainer(items: Array(sequence), decoder: self)
    }

    func singleValueContainer() throws -> SingleValueDecodingContainer { self }

    func decodeNil() -> Bool { node.null != nil }

    private func scalar<T: ScalarConstructible>(_ type: T.Type, _ what: String) throws -> T {
        guard case .scalar(let scalar) = node else { throw mismatch(what) }
        guard let value = T.construct(from: scalar) else {
            throw DecodingError.dataCorrupted(.init(codingPath: codingPath, debugDescription: "'\(scalar.string)' is not \(what)\(place(node))"))
        }
        return value
    }

    func decode(_ type: Bool.Type) throws -> Bool { try scalar(Bool.self, "true or false") }
    func decode(_ type: String.Type) throws -> String { try scalar(String.self, "text") }
    func decode(_ type: Double.Type) throws -> Double { try scalar(Double.self, "a number") }
    func decode(_ type: Float.Type) throws -> Float { try scalar(Float.self, "a number") }
    func decode(_ type: Int.Type) throws -> Int { try scalar(Int.self, "a whole number") }
    func decode(_ type: Int8.Type) throws -> Int8 { try scalar(Int8.self, "a whole number") }
    func decode(_ type: Int16.Type) throws -> Int16 { try scalar(Int16.self, "a whole number") }
    func decode(_ type: Int32.Type) throws -> Int32 { try scalar(Int32.self, "a whole number") }
    func decode(_ type: Int64.Type) throws -> Int64 { try scalar(Int64.self, "a whole number") }
    func decode(_ type: UInt.Type) throws -> UInt { try scalar(UInt.self, "a whole number >= 0") }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try scalar(UInt8.self, "a whole number >= 0") }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try scalar(UInt16.self, "a whole number >= 0") }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try scalar(UInt32.self, "a whole number >= 0") }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try scalar(UInt64.self, "a whole number >= 0") }
    func decode<T: Decodable>(_ type: T.Type) throws -> T { try T(from: self) }
}

private struct KeyedNodeContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let mapping: Node.Mapping
    let decoder: NodeDecoder
    var codingPath: [CodingKey] { decoder.codingPath }
    private var path: String { pathText(codingPath) }

    var allKeys: [Key] {
        mapping.keys.compactMap { $0.string }.compactMap { name in
            decoder.tracker.asked(name, in: path)
            return Key(stringValue: name)
        }
    }

    func contains(_ key: Key) -> Bool {
        decoder.tracker.asked(key.stringValue, in: path)
        return mapping[key.stringValue] != nil
    }

    private func child(_ key: Key) throws -> NodeDecoder {
        decoder.tracker.asked(key.stringValue, in: path)
        guard let node = mapping[key.stringValue] else {
            throw DecodingError.keyNotFound(key, .init(codingPath: codingPath, debugDescription: "missing\(place(.mapping(mapping)))"))
        }
        return NodeDecoder(node: node, codingPath: codingPath + [key], tracker: decoder.tracker)
    }

    func decodeNil(forKey key: Key) throws -> Bool { try child(key).decodeNil() }
    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        let child = try child(key)
        if child.decodeNil() {
            throw DecodingError.valueNotFound(type, .init(codingPath: child.codingPath, debugDescription: "a value is required\(place(child.node))"))
        }
        return try child.decode(type)
    }
    func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
        guard contains(key) else { return nil }
        let child = try child(key)
        return child.decodeNil() ? nil : try child.decode(type)
    }
    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        try child(key).container(keyedBy: type)
    }
    func nestedUnkeyedContainer(forKey key: Key) throws -> UnkeyedDecodingContainer { try child(key).unkeyedContainer() }
    func superDecoder() throws -> Decoder { decoder }
    func superDecoder(forKey key: Key) throws -> Decoder { try child(key) }
}

private struct UnkeyedNodeContainer: UnkeyedDecodingContainer {
    let items: [Node]
    let decoder: NodeDecoder
    var currentIndex = 0
    var codingPath: [CodingKey] { decoder.codingPath }
    var count: Int? { items.count }
    var isAtEnd: Bool { currentIndex >= items.count }

    init(items: [Node], decoder: NodeDecoder) {
        self.items = items
        self.decoder = decoder
    }

    private mutating func next() throws -> NodeDecoder {
        guard !isAtEnd else {
            throw DecodingError.valueNotFound(Any.self, .init(codingPath: codingPath, debugDescription: "the list is too short\(place(decoder.node))"))
        }
        defer { currentIndex += 1 }
        return NodeDecoder(node: items[currentIndex], codingPath: codingPath + [IndexKey(currentIndex)], tracker: decoder.tracker)
    }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd, items[currentIndex].null != nil else { return false }
        currentIndex += 1
        return true
    }
    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T { try next().decode(type) }
    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        try next().container(keyedBy: type)
    }
    mutating func nestedUnkeyedContainer() throws -> UnkeyedDecodingContainer { try next().unkeyedContainer() }
    mutating func superDecoder() throws -> Decoder { try next() }
}
