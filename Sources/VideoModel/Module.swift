// VideoModel module: see README.md, "Code map".
