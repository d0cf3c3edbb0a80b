"""Hydra configs shipped by the plugin: `hydra.searchpath=[pkg://saycan_example_driver.conf]`."""
