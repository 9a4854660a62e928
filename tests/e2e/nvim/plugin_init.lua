-- Minimal init for tests/e2e/test_nvim_plugin.py: the plugin from editors/nvim on
-- 'runtimepath', set up as a user would, with the server and the fake Ollama from the test.
vim.opt.runtimepath:prepend(os.getenv("LSP_ASSIST_PLUGIN"))
vim.opt.swapfile = false

require("lsp_assist").setup({
  cmd = vim.json.decode(os.getenv("LSP_ASSIST_CMD")),
  settings = {
    ollama = { host = os.getenv("OLLAMA_URL") },
    -- "ollama": every suggestion comes from the (fake) model, never the offline engine.
    completion = { debounceMs = 0, backend = "ollama" },
  },
  debounce_ms = 10,
})
