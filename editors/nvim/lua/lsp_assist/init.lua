-- lsp-assist for Neovim: starts `lsp-assist serve` through vim.lsp.config / vim.lsp.enable,
-- shows its suggestions as ghost text in insert mode, and lets its review findings through
-- vim.diagnostic. See editors/nvim/README.md.
local config = require("lsp_assist.config")

local M = {}

M.NAME = "lsp_assist"

--- Starts the server for the configured filetypes. Every option is optional:
--- { cmd, filetypes, root_markers, settings, ghost_text, debounce_ms, keymaps, diagnostics }.
---@param opts? table
function M.setup(opts)
  local options = config.set(opts)
  -- Also here, not only in plugin/: a plugin manager that puts only lua/ on 'runtimepath'
  -- (this plugin lives in a subdirectory of its repository) never sources plugin/.
  M.register()
  vim.lsp.config(M.NAME, {
    cmd = options.cmd,
    filetypes = options.filetypes,
    root_markers = options.root_markers,
    init_options = vim.deepcopy(options.settings),
    settings = { lspAssist = vim.deepcopy(options.settings) },
    handlers = config.handlers,
  })
  vim.lsp.enable(M.NAME)
end

local backend = config.ghost_module

local function show_diagnostics(client)
  local opts = config.options.diagnostics
  if not opts then
    return
  end
  -- Push and pull findings land in different namespaces; configure both.
  for _, pull in ipairs({ false, true }) do
    vim.diagnostic.config(opts, vim.lsp.diagnostic.get_namespace(client.id, pull))
  end
end

--- Called on LspAttach (plugin/lsp_assist.lua) for the lsp_assist client.
---@param client vim.lsp.Client
---@param bufnr integer
function M.attach(client, bufnr)
  show_diagnostics(client)
  local ghost = backend()
  if not ghost or not client:supports_method("textDocument/inlineCompletion", bufnr) then
    return
  end
  ghost.set_enabled(M.completion_enabled())
  ghost.attach(client, bufnr)
  require("lsp_assist.keymaps").attach(bufnr, config.options.keymaps)
end

--- The user commands, and ghost text on LspAttach. Safe to call more than once.
function M.register()
  vim.api.nvim_create_autocmd("LspAttach", {
    group = vim.api.nvim_create_augroup("lsp_assist.attach", { clear = true }),
    callback = function(args)
      local client = vim.lsp.get_client_by_id(args.data.client_id)
      if client and client.name == M.NAME then
        M.attach(client, args.buf)
      end
    end,
  })
  require("lsp_assist.commands").create_user_commands()
end

-- Ghost-text actions on the current buffer, for keymaps of one's own.

---@return boolean
function M.visible()
  local ghost = backend()
  return ghost ~= nil and ghost.visible(vim.api.nvim_get_current_buf())
end

---@return boolean accepted
function M.accept()
  local ghost = backend()
  return ghost ~= nil and ghost.accept(vim.api.nvim_get_current_buf())
end

--- Whether the shown suggestion can be accepted a word or a line at a time (the plugin's own
--- ghost text can, Neovim's vim.lsp.inline_completion cannot).
---@return boolean
function M.can_accept_part()
  local ghost = backend()
  return ghost ~= nil and ghost.accept_part ~= nil and M.visible()
end

--- Accepts the next word of the suggestion; the rest stays shown.
---@return boolean accepted
function M.accept_word()
  local ghost = backend()
  return ghost ~= nil
    and ghost.accept_part ~= nil
    and ghost.accept_part(vim.api.nvim_get_current_buf(), "word")
end

--- Accepts the next line of the suggestion (with its line break); the rest stays shown.
---@return boolean accepted
function M.accept_line()
  local ghost = backend()
  return ghost ~= nil
    and ghost.accept_part ~= nil
    and ghost.accept_part(vim.api.nvim_get_current_buf(), "line")
end

function M.next()
  local ghost = backend()
  if ghost then
    ghost.cycle(vim.api.nvim_get_current_buf(), 1)
  end
end

function M.prev()
  local ghost = backend()
  if ghost then
    ghost.cycle(vim.api.nvim_get_current_buf(), -1)
  end
end

function M.dismiss()
  local ghost = backend()
  if ghost then
    ghost.dismiss(vim.api.nvim_get_current_buf())
  end
end

--- The last `lspAssist/status` the server sent (nil before the first), for statuslines.
---@return table?
function M.status()
  return require("lsp_assist.status").get()
end

--- The same as a short text: "lsp-assist: ready (model, 42 ms)".
---@return string
function M.status_text()
  return require("lsp_assist.status").text()
end

--- Whether completions are on (`:LspAssistToggle` flips it).
---@return boolean
function M.completion_enabled()
  return require("lsp_assist.commands").completion_enabled()
end

return M
