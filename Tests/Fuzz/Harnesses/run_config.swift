// Fuzz harness `run_config`: a run config file through RunConfig.load(path:), the entry point of
// `vt train --config` (Yams → strict Codable decoding → validate()), then what vt does with a config
// right after loading it: the resolved JSON it logs and stores in checkpoints, decoded back, and the
// derived sizes it prints. Building the model from it is not decoding and is left out.

import Training
import VideoModel

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRunConfig(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let path = FuzzInput.file(data, size, name: "config.yaml")
    FuzzInput.tolerate {
        let config = try RunConfig.load(path: path)
        let json = config.resolvedJSON()
        // Checkpoints store this text and `vt evaluate`/`vt sample` decode it again: a config that loads
        // must come back from it unchanged.
        let stored: RunConfig
        do { stored = try ConfigFile.decode(RunConfig.self, yaml: json, source: "resolved config") } catch {
            fatalError("run_config: the resolved JSON of a valid config does not decode: \(error)\n\(json)")
        }
        precondition(stored == config, "run_config: the resolved JSON does not decode to the same config")
        let model = config.model
        _ = "\(model.frames)×\(model.height)×\(model.width), subscale \(model.subscale), \(model.sliceShape)"
        _ = (model.sliceCount, model.positionsPerSlice, model.attentionWidth, model.block(forLayer: model.encoderLayers))
    }
    return 0
}
