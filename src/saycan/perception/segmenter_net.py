"""The segmenter's network and its input encoding, shared by training and inference so the two
can never disagree about what the network sees.

A tiny fully-convolutional U-Net labels every pixel of a half-resolution RGB + height image
with a category (background, block, bowl) and a colour. Height above the table (from depth and
the camera pose) is an input channel: it separates objects from the table and a bowl's floor
from its rim far more cheaply than colour alone.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from saycan.drivers.types import CameraInfo
from saycan.perception.geometry import world_points

#: Heights (m) are clipped to this range and multiplied by HEIGHT_SCALE for the network.
HEIGHT_CLIP = (-0.02, 0.20)
HEIGHT_SCALE = 25.0


def encode_input(
    rgb: np.ndarray, depth: np.ndarray, camera: CameraInfo, downscale: int
) -> tuple[np.ndarray, np.ndarray]:
    """(network input (4, H/d, W/d) float32, full-resolution world points (H, W, 3))."""
    pts = world_points(depth, camera)
    height = np.clip(pts[..., 2], *HEIGHT_CLIP) * HEIGHT_SCALE
    x = np.concatenate(
        [rgb.astype(np.float32) / 255.0, height[..., None].astype(np.float32)], axis=-1
    )
    d = int(downscale)
    h, w = x.shape[0] // d * d, x.shape[1] // d * d
    x = x[:h, :w].reshape(h // d, d, w // d, d, 4).mean(axis=(1, 3))  # area downsampling
    return np.ascontiguousarray(x.transpose(2, 0, 1)), pts


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class TinyUNet(nn.Module):
    """Encoder-decoder with skip connections; two 1x1 heads (category, colour)."""

    def __init__(
        self,
        in_channels: int = 4,
        widths: Sequence[int] = (12, 24, 32, 48),
        n_categories: int = 3,
        n_colours: int = 10,
    ) -> None:
        super().__init__()
        widths = list(widths)
        self.down = nn.ModuleList()
        cin = in_channels
        for w in widths:
            self.down.append(_block(cin, w))
            cin = w
        self.up = nn.ModuleList()
        for w_skip in reversed(widths[:-1]):
            self.up.append(_block(cin + w_skip, w_skip))
            cin = w_skip
        self.category_head = nn.Conv2d(cin, n_categories, 1)
        self.colour_head = nn.Conv2d(cin, n_colours, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        skips = []
        for i, block in enumerate(self.down):
            if i:
                x = nn.functional.max_pool2d(x, 2, ceil_mode=True)
            x = block(x)
            skips.append(x)
        for block, skip in zip(self.up, reversed(skips[:-1])):
            x = nn.functional.interpolate(
                x, size=skip.shape[-2:], mode="bilinear", align_corners=False
            )
            x = block(torch.cat([x, skip], dim=1))
        return self.category_head(x), self.colour_head(x)
