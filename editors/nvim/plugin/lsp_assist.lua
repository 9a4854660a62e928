-- User commands, and ghost text for every buffer the lsp_assist client attaches to (also
-- when it was started by `vim.lsp.enable("lsp_assist")` alone, without setup()).
if vim.g.loaded_lsp_assist then
  return
end
vim.g.loaded_lsp_assist = true

if vim.fn.has("nvim-0.11") == 0 then
  vim.notify("lsp-assist needs Neovim 0.11 or later", vim.log.levels.WARN)
  return
end

require("lsp_assist").register()
