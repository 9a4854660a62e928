"""lsp-assist: a language server for private, fast AI code completion with local models."""

__version__ = "0.1.0"
