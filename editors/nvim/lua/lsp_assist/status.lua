-- `lspAssist/status` notifications: the server tells what it is doing (generating, ready,
-- reviewing, error ...). The last one is kept for statuslines.
local M = {}

---@type table?
local last = nil

function M.on_status(params, ctx)
  if type(params) ~= "table" then
    return
  end
  last = vim.tbl_extend("force", params, {
    client_id = ctx and ctx.client_id,
    time = vim.uv.now(),
  })
  -- Notifications arrive outside the main loop's safe points: redraw and fire later.
  vim.schedule(function()
    vim.api.nvim_exec_autocmds("User", {
      pattern = "LspAssistStatus",
      modeline = false,
      data = last,
    })
    vim.cmd.redrawstatus({ bang = true })
  end)
end

--- The last status the server sent, e.g. { state = "ready", source = "model", latencyMs = 42 }.
---@return table?
function M.get()
  return last
end

--- A short text for a statusline: "lsp-assist: ready (model, 42 ms)".
---@return string
function M.text()
  if not last then
    return ""
  end
  local state = last.state or "?"
  if state == "ready" and last.source then
    local ms = last.latencyMs and string.format(", %d ms", last.latencyMs) or ""
    return string.format("lsp-assist: ready (%s%s)", last.source, ms)
  elseif state == "reviewing" and last.total then
    return string.format("lsp-assist: reviewing %d/%d", last.done or 0, last.total)
  elseif state == "reviewed" then
    return string.format("lsp-assist: %d finding(s)", last.findings or 0)
  elseif state == "waiting" then
    return "lsp-assist: waiting for the model"
  elseif state == "error" then
    return "lsp-assist: error"
  end
  return "lsp-assist: " .. state
end

return M
