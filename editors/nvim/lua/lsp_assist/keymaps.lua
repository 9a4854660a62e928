-- Insert-mode keys for ghost text, buffer-local. Each is an expr mapping: with a suggestion
-- shown it runs the action, otherwise the key does what it always does (a real <Tab>).
local M = {}

-- Actions run through <Cmd> rather than inside the expr function, where the buffer is
-- locked against changes.
-- `when`: the function of lsp_assist that says whether the key is ours now.
local ACTIONS = {
  accept = { call = "accept", desc = "lsp-assist: accept the suggestion", when = "visible" },
  accept_word = {
    call = "accept_word",
    desc = "lsp-assist: accept the next word of the suggestion",
    when = "can_accept_part",
  },
  accept_line = {
    call = "accept_line",
    desc = "lsp-assist: accept the next line of the suggestion",
    when = "can_accept_part",
  },
  dismiss = { call = "dismiss", desc = "lsp-assist: dismiss the suggestion", when = "visible" },
  -- Cycling with nothing shown asks for a suggestion now.
  next = { call = "next", desc = "lsp-assist: next suggestion" },
  prev = { call = "prev", desc = "lsp-assist: previous suggestion" },
}

-- What the key does unmapped: itself, except that an ALT chord acts as <Esc> and the key
-- (|i_META|), which the chord handed back from a mapping would not do.
local function unmapped(lhs)
  local key = lhs:match("^<[MmAa]%-(.+)>$")
  if not key then
    return lhs
  end
  return "<Esc>" .. (#key == 1 and key or "<" .. key .. ">")
end

---@param bufnr integer
---@param keymaps lsp_assist.Keymaps
function M.attach(bufnr, keymaps)
  local lsp_assist = require("lsp_assist")
  for name, action in pairs(ACTIONS) do
    local lhs = keymaps[name]
    if lhs then
      vim.keymap.set("i", lhs, function()
        if action.when and not lsp_assist[action.when]() then
          return unmapped(lhs)
        end
        return string.format("<Cmd>lua require('lsp_assist').%s()<CR>", action.call)
      end, { buffer = bufnr, expr = true, replace_keycodes = true, desc = action.desc })
    end
  end
end

return M
