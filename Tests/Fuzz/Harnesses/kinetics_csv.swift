// Fuzz harness `kinetics_csv`: a Kinetics annotation CSV (KineticsAnnotations(path:), what
// `vt prepare kinetics --annotations` reads), every clip's file name, and the same bytes as a class list
// (KineticsClasses.parse, `--classes FILE`).

import Datasets

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzKineticsCSV(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let path = FuzzInput.file(data, size, name: "annotations.csv")
    FuzzInput.tolerate {
        let annotations = try KineticsAnnotations(path: path)
        for clip in annotations.clips { _ = clip.baseName }
        _ = annotations.labels
    }
    FuzzInput.tolerate { _ = try KineticsClasses.parse(path) }
    return 0
}
