-- Ghost text through Neovim's own vim.lsp.inline_completion (0.12+), behind the same small
-- interface as ghost.lua so that keymaps and commands do not care which one runs.
local api = vim.api
local M = {}

local enabled = true

local function namespace()
  return api.nvim_get_namespaces()["nvim.lsp.inline_completion"]
end

-- Neovim switches inline completion per buffer or per client, not both (the filters
-- exclude each other): per buffer, for the buffers lsp-assist is attached to.
---@param bufnr integer
function M.attach(_, bufnr)
  vim.lsp.inline_completion.enable(enabled, { bufnr = bufnr })
end

function M.detach(bufnr)
  vim.lsp.inline_completion.enable(false, { bufnr = bufnr })
end

---@return boolean
function M.visible(bufnr)
  local ns = namespace()
  return ns ~= nil and #api.nvim_buf_get_extmarks(bufnr, ns, 0, -1, { limit = 1 }) > 0
end

---@return boolean accepted
function M.accept(bufnr)
  return vim.lsp.inline_completion.get({ bufnr = bufnr })
end

function M.cycle(bufnr, step)
  vim.lsp.inline_completion.select({ bufnr = bufnr, count = step })
end

-- Neovim has no public "dismiss": switching the buffer off and on drops the candidate.
function M.dismiss(bufnr)
  if enabled then
    vim.lsp.inline_completion.enable(false, { bufnr = bufnr })
    vim.lsp.inline_completion.enable(true, { bufnr = bufnr })
  end
end

function M.set_enabled(value)
  enabled = value
  for _, client in ipairs(vim.lsp.get_clients({ name = "lsp_assist" })) do
    for bufnr in pairs(client.attached_buffers) do
      vim.lsp.inline_completion.enable(value, { bufnr = bufnr })
    end
  end
end

return M
