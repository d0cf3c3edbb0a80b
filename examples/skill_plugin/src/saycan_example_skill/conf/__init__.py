"""Hydra configs of the example skill plugin (`hydra.searchpath=[pkg://saycan_example_skill.conf]`)."""
