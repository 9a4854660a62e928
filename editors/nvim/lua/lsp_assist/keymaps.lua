-- Insert-mode keys for ghost text, buffer-local. Each is an expr mapping: with a suggestion
-- shown it runs the action, otherwise the key does what it always does (a real <Tab>).
local M = {}

-- Actions run through <Cmd> rather than inside the expr function, where the buffer is
-- locked against changes.
local ACTIONS = {
  accept = { call = "accept", desc = "lsp-assist: accept the suggestion", needs_shown = true },
  dismiss = { call = "dismiss", desc = "lsp-assist: dismiss the suggestion", needs_shown = true },
  -- Cycling with nothing shown asks for a suggestion now.
  next = { call = "next", desc = "lsp-assist: next suggestion", needs_shown = false },
  prev = { call = "prev", desc = "lsp-assist: previous suggestion", needs_shown = false },
}

---@param bufnr integer
---@param keymaps lsp_assist.Keymaps
function M.attach(bufnr, keymaps)
  local lsp_assist = require("lsp_assist")
  for name, action in pairs(ACTIONS) do
    local lhs = keymaps[name]
    if lhs then
      vim.keymap.set("i", lhs, function()
        if action.needs_shown and not lsp_assist.visible(bufnr) then
          return lhs
        end
        return string.format("<Cmd>lua require('lsp_assist').%s()<CR>", action.call)
      end, { buffer = bufnr, expr = true, replace_keycodes = true, desc = action.desc })
    end
  end
end

return M
