// Training module: see README.md, "Code map".
