"""metaharness: run AI coding agents as supervised loops, coordinated through files."""

__version__ = "0.1.0"
