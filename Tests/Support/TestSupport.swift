// VTTestSupport: what the test targets share — the small test model (as a RunConfig and as YAML, both read
// from Tests/Scripts/tiny-model.yaml), the programs the integration tests run and the rules for a missing
// one (Tools.swift), and VTTestFiles' temporary folders and repository paths (re-exported). Public API
// only, so any test target can depend on it without depending on another test target.

@_exported import VTTestFiles
import Foundation
import VideoModel
import Optimization
import Training
import HDF5

/// The small test model's file, shared with the shell scripts: only a `model:` section.
public let smallModelFile = repositoryFile("Tests/Scripts/tiny-model.yaml")

/// The RMSProp optimizer of the cross-rank comparisons, shared with the cluster scripts: only an `optimizer:` section.
public let smallRMSPropFile = repositoryFile("Tests/Scripts/tiny-rmsprop.yaml")

/// `url`'s text without its comment lines, ending in a newline.
private func sectionText(_ url: URL) -> String {
    guard let text = try? String(contentsOf: url, encoding: .utf8) else { fatalError("cannot read \(url.path)") }
    return text.split(separator: "\n", omittingEmptySubsequences: false)
        .filter { !$0.hasPrefix("#") && !$0.isEmpty }.joined(separator: "\n") + "\n"
}

/// tiny-model.yaml's `model:` section, with `overrides` (field → YAML value) replacing fields' values. Every
/// field overridden must be in the file: an override is a deliberate difference, named where it is used.
public func smallModelYAML(_ overrides: KeyValuePairs<String, String> = [:]) -> String {
    var lines = sectionText(smallModelFile).split(separator: "\n").map(String.init)
    for (field, value) in overrides {
        guard let index = lines.firstIndex(where: { $0.hasPrefix("  \(field): ") }) else {
            fatalError("\(smallModelFile.path) has no model.\(field) to override")
        }
        lines[index] = "  \(field): \(value)"
    }
    return lines.joined(separator: "\n") + "\n"
}

/// tiny-rmsprop.yaml's `optimizer:` section.
public let smallRMSPropYAML = sectionText(smallRMSPropFile)

/// The small test model as a ModelConfig, decoded from tiny-model.yaml.
public func smallModelConfig() -> ModelConfig {
    struct File: Decodable { var model: ModelConfig }
    do {
        return try ConfigFile.decode(File.self, yaml: smallModelYAML(), source: smallModelFile.path).model
    } catch { fatalError("\(error)") }
}

/// A run of the small test model small enough that a training step takes milliseconds.
public func smallRunConfig(batch: Int = 4, steps: Int = 10, accumulation: Int = 1, optimizer: OptimizerConfig? = nil) -> RunConfig {
    RunConfig(model: smallModelConfig(),
              optimizer: optimizer ?? OptimizerConfig(name: .adam, learningRate: 3e-3, warmupSteps: 2, clipNorm: 1),
              training: TrainingSettings(batchSize: batch, steps: steps, seed: 3, logEvery: 5, accumulationSteps: accumulation),
              data: DataSettings(syntheticVideos: 12, syntheticSeed: 2))
}

/// The small model as a whole run config, for the distributed command-line tests (1 vs N ranks, the model
/// axis, ZeRO-1, the stall watchdog, sampling): RMSProp (tiny-rmsprop.yaml), global batch 8, 20 steps.
/// Tests edit it by text (`steps: 20`, `  height: 8\n  width: 8`, `checkpoint:\n  every: 0`).
public let smallDistributedConfig = smallModelYAML([
    // Two decoder layers, as these tests always had: OptimizerShardingMPITests' Adam bound names the decoder
    // layers' relative biases, and their checks were measured on this model.
    "decoder_layers": "2",
]) + smallRMSPropYAML + """
training:
  batch_size: 8
  steps: 20
  seed: 5
data:
  synthetic_videos: 24
distribution:
  checksum_every: 5
  bucket_mb: 0.01
checkpoint:
  every: 0
"""

/// The small model trained 2 steps with Adam: the command-line tests' config (bad configs, `vt prepare` then
/// training on the shards, the precision flags). Tests edit it by text (`heads: 2`, `ffn_size: 32`,
/// `encoder_kernel: [3, 3, 3]`, `subscale: [2, 2, 2]`, `batch_size: 4`, `  steps: 2`).
public let smallTwoStepConfig = smallModelYAML([
    // One block shape, as this config always had (CommandLineTests.config before the model had one file).
    "blocks": "[[2, 4, 4]]",
]) + """
optimizer:
  name: adam
  learning_rate: 1.0e-3
training:
  batch_size: 4
  steps: 2
data:
  synthetic_videos: 8
"""

/// Every `/params/…` dataset of a checkpoint file, by name.
public func parameters(ofCheckpoint path: String) throws -> [String: [Float]] {
    let file = try HDF5File.open(path)
    var result: [String: [Float]] = [:]
    for dataset in try file.root.datasetPaths() where dataset.hasPrefix("/params/") {
        result[dataset] = try file.root.dataset(dataset).read(as: Float.self)
    }
    try file.close()
    return result
}

/// Every dataset of a checkpoint file (params and optimizer slots), by path.
public func allTensors(ofCheckpoint path: String) throws -> [String: [Float]] {
    let file = try HDF5File.open(path)
    defer { try? file.close() }
    var result: [String: [Float]] = [:]
    for dataset in try file.root.datasetPaths() { result[dataset] = try file.root.dataset(dataset).read(as: Float.self) }
    return result
}

/// A dataset's bytes, whatever its element type (for bitwise comparisons).
public func rawBytes(_ dataset: HDF5Dataset) throws -> [UInt8] {
    var bytes = [UInt8](repeating: 0, count: try dataset.shape().reduce(1, *) * (try dataset.elementType()).byteCount)
    try bytes.withUnsafeMutableBytes { try dataset.read(into: $0) }
    return bytes
}

/// The bytes of each named dataset of the HDF5 file at `path`.
public func datasetBytes(_ path: URL, _ names: [String]) throws -> [String: [UInt8]] {
    let file = try HDF5File.open(path.path)
    defer { try? file.close() }
    var result: [String: [UInt8]] = [:]
    for name in names { result[name] = try rawBytes(file.root.dataset(name)) }
    return result
}
