"""Pickaxes: the builder, browsing and running AI tools (see DESIGN.md section 7)."""
