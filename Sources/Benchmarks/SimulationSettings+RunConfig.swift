// SimulationSettings+RunConfig: what a run config decides for the simulator — the memory features the
// trainer reads from it (docs/design.md §8–§9) and the gradient bucket size — so `vt mesh simulate`, its
// `--calibrate` and the trainer the calibration builds all see one set of values.

import Training
import MeshSimulation

extension SimulationSettings {
    /// Takes `training.precision`, `training.recompute`, `distribution.shard_optimizer` and
    /// `distribution.bucket_mb` from `config`.
    public mutating func follow(_ config: RunConfig) {
        precision = config.training.precision
        recompute = config.training.recompute
        shardOptimizer = config.distribution.shardOptimizer
        bucketBytes = config.distribution.bucketMegabytes * 1e6
    }
}
