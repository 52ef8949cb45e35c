"""Torch modules of every graphnet layer (exports are added once every family lands)."""
