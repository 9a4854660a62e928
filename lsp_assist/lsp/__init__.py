"""The LSP side: one small module per feature. Each takes LSP types in, hands a snapshot to the
core (plain Python, no pygls) and turns its answer back into LSP types."""
