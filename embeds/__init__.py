"""Embeds: the iframe view, its settings and visitor limits (see DESIGN.md section 5)."""
