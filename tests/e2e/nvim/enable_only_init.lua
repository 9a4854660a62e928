-- Minimal init for tests/e2e/test_nvim_plugin.py without setup(): the plugin on
-- 'runtimepath' gives lsp/lsp_assist.lua, so vim.lsp.enable alone starts the server.
-- The settings reach the server only through workspace/configuration.
vim.opt.runtimepath:prepend(os.getenv("LSP_ASSIST_PLUGIN"))
vim.opt.swapfile = false

vim.lsp.config("lsp_assist", {
  settings = {
    lspAssist = {
      ollama = { host = os.getenv("OLLAMA_URL") },
      completion = { debounceMs = 0, backend = "ollama" },
    },
  },
})
vim.lsp.enable("lsp_assist")
