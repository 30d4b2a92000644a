// CRC32C: the one CRC-32C (Castagnoli) of vt — TFRecord framing, checkpoint tensors and index, shards — and
// TensorFlow's masking of it.
//
// Reflected polynomial 0x82F63B78, initial value and final xor 0xFFFFFFFF (the iSCSI / ext4 / TFRecord
// CRC). `checksum` uses the CPU's crc32 instruction where it has one (SSE 4.2, checked at run time,
// ≈ 10 GB/s; _SystemShims), else `tableChecksum`: slicing-by-8 (eight bytes per step through eight
// 256-entry tables, ≈ 1–2 GB/s in release) with a bytewise loop for the tail. A bitwise reference
// (`bitwise`) stays beside both as the oracle. Check values: "123456789" → 0xE3069283, 32 zero bytes →
// 0x8A9136AA.

import _SystemShims

public enum CRC32C {
    /// Whether `checksum` runs on the CPU's CRC-32C instruction.
    public static let hardwareAvailable = vt_crc32c_hardware_available() == 1

    /// The reflected Castagnoli polynomial.
    public static let polynomial: UInt32 = 0x82F6_3B78
    /// TensorFlow's mask constant: masked = rotateRight(crc, 15) &+ maskDelta.
    public static let maskDelta: UInt32 = 0xA282_EAD8

    /// Slicing-by-8 tables, [8][256] flattened: table k maps a byte to its CRC contribution k bytes later.
    static let tables: [UInt32] = {
        var tables = [UInt32](repeating: 0, count: 8 * 256)
        for i in 0..<256 {
            var crc = UInt32(i)
            for _ in 0..<8 { crc = (crc & 1) != 0 ? (crc >> 1) ^ polynomial : crc >> 1 }
            tables[i] = crc
        }
        for k in 1..<8 {
            for i in 0..<256 {
                let previous = tables[(k - 1) * 256 + i]
                tables[k * 256 + i] = (previous >> 8) ^ tables[Int(previous & 0xFF)]
            }
        }
        return tables
    }()

    /// CRC-32C of `bytes`. Pass a previous result as `crc` to continue a checksum over several pieces.
    public static func checksum(_ bytes: UnsafeRawBufferPointer, continuing crc: UInt32 = 0) -> UInt32 {
        guard hardwareAvailable, let base = bytes.baseAddress else { return tableChecksum(bytes, continuing: crc) }
        return vt_crc32c_hardware(crc, base, bytes.count)
    }

    /// The table-driven CRC-32C (slicing-by-8): the fallback where the CPU has no CRC instruction.
    public static func tableChecksum(_ bytes: UnsafeRawBufferPointer, continuing crc: UInt32 = 0) -> UInt32 {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return crc }
        return tables.withUnsafeBufferPointer { table -> UInt32 in
            let t = table.baseAddress!
            var c = ~crc
            var p = base
            var remaining = bytes.count
            // Eight bytes at a time: two little-endian 32-bit loads, eight table look-ups.
            while remaining >= 8 {
                let low = UInt32(littleEndian: p.loadUnaligned(as: UInt32.self)) ^ c
                let high = UInt32(littleEndian: (p + 4).loadUnaligned(as: UInt32.self))
                c = t[7 * 256 + Int(low & 0xFF)] ^ t[6 * 256 + Int((low >> 8) & 0xFF)]
                    ^ t[5 * 256 + Int((low >> 16) & 0xFF)] ^ t[4 * 256 + Int(low >> 24)]
                    ^ t[3 * 256 + Int(high & 0xFF)] ^ t[2 * 256 + Int((high >> 8) & 0xFF)]
                    ^ t[1 * 256 + Int((high >> 16) & 0xFF)] ^ t[Int(high >> 24)]
                p += 8
                remaining -= 8
            }
            while remaining > 0 {
                c = t[Int((c ^ UInt32(p.load(as: UInt8.self))) & 0xFF)] ^ (c >> 8)
                p += 1
                remaining -= 1
            }
            return ~c
        }
    }

    /// CRC-32C of a byte array (or any contiguous byte collection).
    public static func checksum(_ bytes: [UInt8], continuing crc: UInt32 = 0) -> UInt32 {
        bytes.withUnsafeBytes { checksum($0, continuing: crc) }
    }

    /// TensorFlow's masked CRC: `((crc >> 15) | (crc << 17)) &+ 0xa282ead8`.
    @inline(__always)
    public static func mask(_ crc: UInt32) -> UInt32 {
        ((crc >> 15) | (crc << 17)) &+ maskDelta
    }

    /// The inverse of `mask`.
    @inline(__always)
    public static func unmask(_ masked: UInt32) -> UInt32 {
        let rotated = masked &- maskDelta
        return (rotated >> 17) | (rotated << 15)
    }

    /// `mask(checksum(bytes))`, the value TFRecord stores.
    public static func maskedChecksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        mask(checksum(bytes))
    }

    /// `mask(checksum(bytes))`, the value TFRecord stores.
    public static func maskedChecksum(_ bytes: [UInt8]) -> UInt32 {
        mask(checksum(bytes))
    }

    /// Bit-at-a-time reference implementation (slow; the oracle for the hardware and table-driven ones).
    public static func bitwise(_ bytes: [UInt8], continuing crc: UInt32 = 0) -> UInt32 {
        var c = ~crc
        for byte in bytes {
            c ^= UInt32(byte)
            for _ in 0..<8 { c = (c & 1) != 0 ? (c >> 1) ^ polynomial : c >> 1 }
        }
        return ~c
    }
}
