# Sourced by the cluster scripts (slurm-test.sh, multihost-test.sh); needs $VT.
# fingerprint CHECKPOINT: every tensor's name, CRC-32C and norm, the step and the optimizer's step —
# two checkpoints with equal fingerprints hold bitwise-equal tensors.
fingerprint() {
    "$VT" inspect checkpoint "$1" --json | grep -E '"(name|crc32c|norm)"|^  "step"|^    "step"'
}
