// Datasets module: see README.md, "Code map".
