"""Pickaxes: the builder, browsing and running AI tools (README: "A run, step by step")."""
