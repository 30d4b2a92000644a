// HDF5 module: see README.md, "Code map".
