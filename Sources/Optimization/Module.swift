// Optimization module: see README.md, "Code map".
