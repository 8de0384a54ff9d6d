"""Training runs: config checks, building envs and algorithms, the run
directory, checkpoints, summaries, and `train(config, run_dir)` itself."""
