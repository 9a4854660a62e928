-- The vim.lsp.Config for lsp-assist: with this plugin on 'runtimepath',
-- `vim.lsp.enable("lsp_assist")` alone starts the server. `setup()` refines it.
local config = require("lsp_assist.config")

return {
  cmd = config.defaults.cmd,
  filetypes = config.default_filetypes,
  root_markers = config.default_root_markers,
  -- The server reads its settings from both; `settings` also answers workspace/configuration.
  init_options = {},
  settings = { lspAssist = {} },
  handlers = config.handlers,
}
