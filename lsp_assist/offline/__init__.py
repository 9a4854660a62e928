"""The offline engine: completions learnt from the workspace's own code, for when no model server
is reachable. Plain Python (no pygls): `engine.OfflineEngine` ties together `tokens` (a token
stream via tree-sitter), `ngram` (a backoff n-gram model for the rest of a line) and
`definitions` (an index of functions, methods and classes for completion items)."""
