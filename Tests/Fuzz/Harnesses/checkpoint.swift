// Fuzz harness `checkpoint`: a checkpoint file opened as resume and `vt inspect checkpoint` open it —
// CheckpointFile(path:) (the user-block index verified first, then HDF5, the root attributes and their
// checksum), the optimizer slots, every dataset's path, and verify(), which reads every tensor and checks
// its CRC-32C. Mutations are file-level: the fuzzer's bytes are the file.

import Checkpointing

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCheckpoint(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let path = FuzzInput.file(data, size, name: "step_00000001.h5")
    FuzzInput.tolerate {
        let file = try CheckpointFile(path: path)
        defer { file.close() }
        _ = (file.step, file.formatVersion, file.string("config"), file.strings("optimizer_slots"), file.int("world_size"))
        FuzzInput.tolerate { _ = try file.children(of: "optimizer") }
        FuzzInput.tolerate { _ = try file.datasetPaths() }
        FuzzInput.tolerate { _ = try file.verify() }
    }
    return 0
}
