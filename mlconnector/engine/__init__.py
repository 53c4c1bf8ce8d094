"""The engine: one pass of a pair, the same for every pair (DESIGN.md §4)."""
