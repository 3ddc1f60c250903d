// SHA-256 and CRC-32C against published check values.
import Foundation
import Hashing
import Testing

@Suite struct HashingTests {
    @Test func sha256KnownAnswers() {
        // FIPS 180-2 examples: "abc", the two-block message, and the empty string.
        var abc = SHA256()
        abc.update(Array("abc".utf8))
        #expect(abc.hexDigest() == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        var twoBlocks = SHA256()
        twoBlocks.update(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8))
        #expect(twoBlocks.hexDigest() == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        var empty = SHA256()
        #expect(empty.hexDigest() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }

    @Test func sha256SplitUpdatesEqualOneUpdate() {
        let bytes = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        var whole = SHA256(), pieces = SHA256()
        whole.update(bytes)
        for start in stride(from: 0, to: bytes.count, by: 61) { pieces.update(bytes[start..<min(start + 61, bytes.count)]) }
        #expect(whole.hexDigest() == pieces.hexDigest())
    }

    @Test func crc32cKnownAnswers() {
        // The check value of CRC-32C, and RFC 3720's 32 zero bytes.
        #expect(crc32c(Data("123456789".utf8)) == 0xE306_9283)
        #expect(crc32c(Data(repeating: 0, count: 32)) == 0x8A91_36AA)
    }
}
