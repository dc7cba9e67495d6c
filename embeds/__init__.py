"""Embeds: the iframe view, its settings and visitor limits."""
