-- What became of each suggestion, told to the server as `lspAssist/suggestionEvent`
-- (editors/PROTOCOL.md) for its local statistics (`lsp-assist stats`): shown, accepted (in
-- full, or in part with the total so far), dismissed. Sent after the edit it reports, which
-- `client:notify` sends first (it flushes the buffer's pending changes).
local M = {}

M.NOTIFICATION = "lspAssist/suggestionEvent"
M.ACCEPTED_COMMAND = "lspAssist.suggestionAccepted"

--- The server's id of an inline completion item (its command's argument), if it is one of
--- lsp-assist's.
---@param raw table an lsp.InlineCompletionItem
---@return string?
function M.id_of(raw)
  local command = raw.command
  if type(command) ~= "table" or command.command ~= M.ACCEPTED_COMMAND then
    return nil
  end
  local argument = type(command.arguments) == "table" and command.arguments[1] or nil
  local id = type(argument) == "table" and argument.id or nil
  return type(id) == "string" and id or nil
end

--- Tells the server about suggestion `id`; for "partial" and "accepted", `accepted` is how
--- many bytes of `text` from its start are in the buffer.
---@param client_id integer
---@param id string
---@param kind "shown"|"accepted"|"partial"|"dismissed"
---@param text? string
---@param accepted? integer
function M.send(client_id, id, kind, text, accepted)
  local client = vim.lsp.get_client_by_id(client_id)
  if not client then
    return
  end
  local params = { id = id, kind = kind }
  if text and accepted then
    -- In the session's position encoding, as positions are (bytes for UTF-8).
    local encoding = client.offset_encoding or "utf-16"
    params.acceptedChars = vim.str_utfindex(text:sub(1, accepted), encoding)
  end
  client:notify(M.NOTIFICATION, params)
end

return M
