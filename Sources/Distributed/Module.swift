// Distributed module: see README.md, "Code map".
