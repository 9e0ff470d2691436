"""Readers for source formats that the engine cannot read itself."""
