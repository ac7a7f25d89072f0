"""clusterhpc: find galaxy clusters and measure their redshift and richness with deep learning."""

__version__ = "0.1.0"
