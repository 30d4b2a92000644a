// Checkpointing module: HDF5 checkpoints (DESIGN.md §5). See README.md, "Code map".
