"""Framework-neutral facts about the networks, shared by the three ``models`` subpackages."""

from __future__ import annotations

__all__ = ["ATTENTION_TYPES", "RESNET_DEPTHS"]

ATTENTION_TYPES = ("none", "se", "eca", "cbam", "bam")
"""Accepted values of ``attention_type``. ``"bam"`` is placed between stages, the others in blocks."""

RESNET_DEPTHS = {18: ("basic", (2, 2, 2, 2)), 34: ("basic", (3, 4, 6, 3)),
                 50: ("bottleneck", (3, 4, 6, 3)), 101: ("bottleneck", (3, 4, 23, 3)),
                 152: ("bottleneck", (3, 8, 36, 3))}
"""Block type and number of blocks per stage for each supported depth (He et al., 2016, Table 1)."""
