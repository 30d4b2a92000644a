// CRC-32C: published check values, the hardware instruction and the table-driven code against the bitwise
// oracle (every length and alignment, chained pieces), and TensorFlow's mask.

import Common
import Testing

@Suite struct CRC32CTests {
    @Test func checkValues() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
        // RFC 3720 (iSCSI) B.4: 32 bytes of 0xFF, and 0x00...0x1F.
        #expect(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)) == 0x62A8_AB43)
        #expect(CRC32C.checksum((0..<32).map { UInt8($0) }) == 0x46DD_794E)
        #expect(CRC32C.checksum([]) == 0)
    }

    @Test func hardwareAndTableMatchTheBitwiseOracle() {
        var bytes: [UInt8] = []
        var state: UInt32 = 12345
        for _ in 0..<300 {
            state = state &* 1_103_515_245 &+ 12345
            bytes.append(UInt8(truncatingIfNeeded: state >> 16))
        }
        // Every length 0...70 at every start 0...8 (unaligned loads, tails of every size).
        for start in 0...8 {
            for length in 0...70 {
                let piece = Array(bytes[start..<(start + length)])
                #expect(CRC32C.checksum(piece) == CRC32C.bitwise(piece), "start \(start) length \(length)")
                #expect(piece.withUnsafeBytes { CRC32C.tableChecksum($0) } == CRC32C.bitwise(piece), "table: start \(start) length \(length)")
            }
        }
        #expect(CRC32C.checksum(bytes) == CRC32C.bitwise(bytes))
        // Long and chained, as the checkpoint index reads its metadata in pieces.
        var generator = SystemRandomNumberGenerator()
        for length in [1000, 100_003] {
            let long = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let expected = CRC32C.bitwise(long), cut = length / 3
            #expect(CRC32C.checksum(long) == expected, "length \(length)")
            let chained = long.withUnsafeBytes { all in
                CRC32C.checksum(UnsafeRawBufferPointer(rebasing: all[cut...]),
                                continuing: CRC32C.checksum(UnsafeRawBufferPointer(rebasing: all[..<cut])))
            }
            #expect(chained == expected, "length \(length), chained")
        }
        print("CRC-32C: \(CRC32C.hardwareAvailable ? "hardware instruction" : "table-driven (no hardware CRC-32C on this CPU)")")
    }

    @Test func continuingEqualsWhole() {
        let bytes = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) }
        for split in [0, 1, 7, 8, 9, 500, 999, 1000] {
            let first = CRC32C.checksum(Array(bytes[..<split]))
            #expect(CRC32C.checksum(Array(bytes[split...]), continuing: first) == CRC32C.checksum(bytes))
        }
    }

    @Test func tensorFlowMask() {
        let crc = CRC32C.checksum(Array("123456789".utf8))
        #expect(CRC32C.mask(crc) == ((crc >> 15) | (crc << 17)) &+ 0xA282_EAD8)
        #expect(CRC32C.maskedChecksum(Array("123456789".utf8)) == 0xC78A_B0E5)   // from the Python tool
        for value: UInt32 in [0, 1, 0xFFFF_FFFF, 0xE306_9283, 0x8000_0000] {
            #expect(CRC32C.unmask(CRC32C.mask(value)) == value)
        }
    }
}
