"""MUTANT: hands in the course package's implementation."""

from vision_attention.torch import SEBlock as _Reference


class SEBlock(_Reference):
    def forward(self, x):
        return super().forward(x)
