"""Upstream sources: raw and reference table declarations and their row rules."""
