"""An example out-of-tree driver for saycan-stack (see docs/drivers.md)."""

from saycan_example_driver.driver import ExampleArmDriver

__all__ = ["ExampleArmDriver"]
