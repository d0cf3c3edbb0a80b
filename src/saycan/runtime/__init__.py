"""The episode machinery every entry point shares: components built from config, one episode
begun and run, its trace and record written. Used by `saycan run`, evaluation sweeps, the
planner's expert-data generation and the Python API alike, so none of them imports another."""
