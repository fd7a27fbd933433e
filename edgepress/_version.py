"""The edgepress version, alone: modules that need it import this, not the package face."""

__version__ = "0.1.0"
