"""Context for prompts: what the workspace defines (the index), what the cursor needs from it
(retrieval), and what must never reach a model (secrets)."""
