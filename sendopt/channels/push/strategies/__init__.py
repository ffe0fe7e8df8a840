"""Push strategies: pluggable candidate generators (one class + one ``push.strategies`` entry each)."""
