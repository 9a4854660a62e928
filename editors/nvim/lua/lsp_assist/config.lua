-- The plugin's options: defaults, and the values `setup()` was given.
local M = {}

-- The filetypes of lsp_assist/languages.py's registry (checked by tests/unit/test_languages.py).
M.default_filetypes = {
  "python",
  "javascript",
  "javascriptreact",
  "typescript",
  "typescriptreact",
  "go",
  "rust",
  "java",
  "c",
  "cpp",
  "cuda",
  "lua",
}

M.default_root_markers = {
  ".git",
  "pyproject.toml",
  "setup.py",
  "package.json",
  "go.mod",
  "Cargo.toml",
  "pom.xml",
  "build.gradle",
  "CMakeLists.txt",
  "Makefile",
  ".luarc.json",
}

-- Server-to-client messages beyond the LSP spec.
M.handlers = {
  ["lspAssist/status"] = function(_, params, ctx)
    require("lsp_assist.status").on_status(params, ctx)
  end,
  ["window/showMessage"] = function(...)
    return require("lsp_assist.commands").on_show_message(...)
  end,
}

---@class lsp_assist.Keymaps
---@field accept string|false
---@field accept_word string|false
---@field accept_line string|false
---@field next string|false
---@field prev string|false
---@field dismiss string|false

---@class lsp_assist.Options
---@field cmd string[]
---@field filetypes string[]
---@field root_markers string[]
---@field settings table the server's settings (camelCase, as in the README)
---@field ghost_text "auto"|"native"|"extmarks"|false
---@field debounce_ms integer wait after a keystroke before asking (the server debounces too)
---@field keymaps lsp_assist.Keymaps
---@field diagnostics table|false vim.diagnostic.config() for lsp-assist's findings only
M.defaults = {
  cmd = { "lsp-assist", "serve" },
  filetypes = M.default_filetypes,
  root_markers = M.default_root_markers,
  settings = {},
  -- "auto": our extmarks, which accept a word or a line at a time and tell the server what
  -- became of each suggestion; "native": Neovim's vim.lsp.inline_completion (0.12+).
  ghost_text = "auto",
  debounce_ms = 30,
  keymaps = {
    accept = "<Tab>",
    accept_word = "<M-Right>",
    accept_line = "<M-Down>",
    next = "<M-]>",
    prev = "<M-[>",
    dismiss = "<C-]>",
  },
  -- Neovim 0.11 hides virtual text by default; a review finding is worth reading inline.
  diagnostics = { virtual_text = true, underline = true, signs = true },
}

---@type lsp_assist.Options
M.options = vim.deepcopy(M.defaults)

---@param opts? table
---@return lsp_assist.Options
function M.set(opts)
  -- Lists (cmd, filetypes) replace the defaults; `false` switches a keymap off.
  M.options = vim.tbl_deep_extend("force", vim.deepcopy(M.defaults), opts or {})
  return M.options
end

--- Which ghost-text implementation to use.
---@return "native"|"extmarks"|false
function M.ghost_mode()
  local mode = M.options.ghost_text
  if mode == "auto" then
    return "extmarks"
  end
  if mode == "native" and vim.lsp.inline_completion == nil then
    return "extmarks"
  end
  return mode
end

--- The module drawing ghost text (lsp_assist.native or lsp_assist.ghost), or nil when off.
function M.ghost_module()
  local mode = M.ghost_mode()
  if mode == "native" then
    return require("lsp_assist.native")
  elseif mode == "extmarks" then
    return require("lsp_assist.ghost")
  end
  return nil
end

return M
