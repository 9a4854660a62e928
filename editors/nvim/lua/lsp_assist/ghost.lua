-- Ghost text drawn by the plugin with extmarks. While typing in insert mode it asks the server
-- for `textDocument/inlineCompletion` (LSP 3.18) and shows the answer after the cursor: the
-- first line as inline virtual text, the others as virtual lines below. What the buffer takes
-- of a suggestion — typed through, or accepted a word or a line at a time — leaves the rest
-- shown, and the next request gets the rest from the server (its type-through, no new
-- generation). The server hears what became of each suggestion (events.lua).
local config = require("lsp_assist.config")
local events = require("lsp_assist.events")
local parts = require("lsp_assist.parts")

local api = vim.api
local M = {}

M.namespace = api.nvim_create_namespace("lsp_assist.ghost")

local METHOD = "textDocument/inlineCompletion"
local TRIGGER = { invoked = 1, automatic = 2 }

---@class lsp_assist.GhostItem
---@field text string what accepting inserts from `start_col` on (a snippet's plain text)
---@field snippet? string the snippet to expand instead, when the item is one
---@field row integer 0-based line the item applies to
---@field start_col integer byte column where the replaced text starts
---@field replaced_suffix string text after the cursor that the item replaces (usually "")
---@field id? string the server's id of the suggestion (lsp-assist's items have one)
---@field told_shown? boolean the server was told it is shown
---@field accepted integer bytes of `text` accepted in part so far
---@field over? boolean accepted, or replaced by the next answer: no dismissal to tell

---@class lsp_assist.GhostState
---@field client_id integer
---@field timer? uv.uv_timer_t
---@field pending? integer request id of the request in flight
---@field items lsp_assist.GhostItem[]
---@field index integer
---@field extmark? integer
---@field shown? { item: lsp_assist.GhostItem, end_col: integer }

---@type table<integer, lsp_assist.GhostState>
local states = {}

local enabled = true

local function split_lines(text)
  return vim.split(text, "\n", { plain = true })
end

-- Tabs in virtual text do not line up as the buffer's do; leading ones (indentation) are
-- what suggestions have, and spaces show those exactly.
local function displayable(bufnr, text)
  if not text:find("\t", 1, true) then
    return text
  end
  return (text:gsub("\t", string.rep(" ", vim.bo[bufnr].tabstop)))
end

local function snippet_text(snippet)
  local ok, grammar = pcall(require, "vim.lsp._snippet_grammar")
  if ok then
    local parsed_ok, parsed = pcall(grammar.parse, snippet)
    if parsed_ok then
      return tostring(parsed)
    end
  end
  -- Without the parser, drop tab stops and keep placeholders' text.
  return (snippet:gsub("%${%d+:([^}]*)}", "%1"):gsub("%$%d+", ""))
end

local function cursor_in(bufnr)
  local win = api.nvim_get_current_win()
  if api.nvim_win_get_buf(win) ~= bufnr then
    return nil
  end
  local pos = api.nvim_win_get_cursor(win)
  return pos[1] - 1, pos[2]
end

local function current_line(bufnr, row)
  return api.nvim_buf_get_lines(bufnr, row, row + 1, false)[1] or ""
end

local function tell(state, item, kind, accepted)
  if item.id then
    events.send(state.client_id, item.id, kind, item.text, accepted)
  end
end

-- Hides the suggestion; one hidden before it was accepted (or replaced) was dismissed.
local function clear_extmark(bufnr, state)
  if state.extmark then
    pcall(api.nvim_buf_del_extmark, bufnr, M.namespace, state.extmark)
    state.extmark = nil
  end
  local item = state.shown and state.shown.item
  state.shown = nil
  if item and item.told_shown and not item.over and item.accepted == 0 then
    item.over = true
    tell(state, item, "dismissed")
  end
end

local function cancel_pending(state)
  if state.pending then
    local client = vim.lsp.get_client_by_id(state.client_id)
    if client then
      client:cancel_request(state.pending)
    end
    state.pending = nil
  end
end

local function stop_timer(state)
  if state.timer then
    state.timer:stop()
    state.timer:close()
    state.timer = nil
  end
end

--- Forgets the suggestion and everything in flight for `bufnr`.
function M.clear(bufnr)
  local state = states[bufnr]
  if not state then
    return
  end
  stop_timer(state)
  cancel_pending(state)
  clear_extmark(bufnr, state)
  state.items = {}
  state.index = 1
end

--- What the current item still adds at the cursor, with what the buffer already holds of it
--- (typed through or accepted in part, over one line or several); no remainder when the
--- buffer does not continue it (then it is stale) or holds all of it (then `held` is its text).
---@return string? remainder, integer? end_col, string? held
local function remainder_of(bufnr, item)
  local row, col = cursor_in(bufnr)
  if not row or row < item.row or (row == item.row and col < item.start_col) then
    return nil
  end
  local _, breaks = item.text:gsub("\n", "")
  if row - item.row > breaks then
    return nil
  end
  local ok, lines = pcall(api.nvim_buf_get_text, bufnr, item.row, item.start_col, row, col, {})
  local held = ok and table.concat(lines, "\n") or nil
  if not held or item.text:sub(1, #held) ~= held then
    return nil
  elseif #held == #item.text then
    return nil, nil, held
  end
  local end_col = col
  local suffix = item.replaced_suffix
  local line = current_line(bufnr, row)
  if row == item.row and suffix ~= "" and line:sub(col + 1, col + #suffix) == suffix then
    end_col = col + #suffix
  end
  return item.text:sub(#held + 1), end_col, held
end

-- Draws the current item, or clears it when it no longer applies.
local function render(bufnr)
  local state = states[bufnr]
  if not state then
    return
  end
  local item = state.items[state.index]
  local rest, end_col, held = nil, nil, nil
  if item and enabled then
    rest, end_col, held = remainder_of(bufnr, item)
  end
  if not rest then
    if item and held then
      item.over = true -- typed through to its end: nothing was dismissed
    end
    clear_extmark(bufnr, state)
    state.items = {}
    return
  end
  local hl = "LspAssistGhost"
  local lines = split_lines(rest)
  local first = displayable(bufnr, lines[1])
  if #state.items > 1 then
    local hint = string.format(" (%d/%d)", state.index, #state.items)
    if #lines == 1 then
      first = first .. hint
    else
      lines[#lines] = lines[#lines] .. hint
    end
  end
  local virt_lines = {}
  for i = 2, #lines do
    virt_lines[#virt_lines + 1] = { { displayable(bufnr, lines[i]), hl } }
  end
  local row, col = cursor_in(bufnr)
  -- A new item drawn in place of the shown one replaces it (the next answer, another choice).
  if state.shown and state.shown.item ~= item then
    state.shown.item.over = true
  end
  state.extmark = api.nvim_buf_set_extmark(bufnr, M.namespace, row, col, {
    id = state.extmark,
    virt_text = { { first, hl } },
    -- Inline pushes the rest of the line right, as the insertion would; an item that
    -- replaces text after the cursor is drawn over that text instead.
    virt_text_pos = end_col > col and "overlay" or "inline",
    virt_lines = #virt_lines > 0 and virt_lines or nil,
    hl_mode = "combine",
    priority = 5000,
  })
  state.shown = { item = item, end_col = end_col }
  if not item.told_shown then
    item.told_shown = true
    tell(state, item, "shown")
  end
end

-- Converts the server's items (positions in the client's encoding) to byte columns.
local function to_items(bufnr, client, result, row, col)
  local line = current_line(bufnr, row)
  local encoding = client.offset_encoding or "utf-16"
  local function byte_col(position)
    local ok, byte = pcall(vim.str_byteindex, line, encoding, position.character, false)
    return ok and byte or col
  end
  local items = {}
  for _, raw in ipairs(result.items or result) do
    local insert = raw.insertText
    local item = {
      row = row,
      start_col = col,
      replaced_suffix = "",
      id = events.id_of(raw),
      accepted = 0,
    }
    if type(insert) == "table" then
      item.snippet = insert.value or ""
      item.text = snippet_text(item.snippet)
    else
      item.text = insert or ""
    end
    local range = raw.range
    if range and range.start.line == row and range["end"].line == row then
      item.start_col = math.min(byte_col(range.start), col)
      local end_col = byte_col(range["end"])
      if end_col > col then
        item.replaced_suffix = line:sub(col + 1, end_col)
      end
    end
    -- A range that starts before the cursor repeats what is already typed: keep it only
    -- when it agrees with the buffer.
    local typed = line:sub(item.start_col + 1, col)
    if item.text ~= "" and item.text:sub(1, #typed) == typed and #item.text > #typed then
      items[#items + 1] = item
    end
  end
  return items
end

local function request(bufnr, trigger)
  local state = states[bufnr]
  if not state or not enabled then
    return
  end
  cancel_pending(state)
  local client = vim.lsp.get_client_by_id(state.client_id)
  local row, col = cursor_in(bufnr)
  if not client or not row or not vim.startswith(api.nvim_get_mode().mode, "i") then
    return
  end
  local line = current_line(bufnr, row)
  local encoding = client.offset_encoding or "utf-16"
  local params = {
    textDocument = { uri = vim.uri_from_bufnr(bufnr) },
    position = { line = row, character = vim.str_utfindex(line, encoding, col, false) },
    context = { triggerKind = trigger },
  }
  local tick = api.nvim_buf_get_changedtick(bufnr)
  local answered = false
  local ok, id
  ok, id = client:request(METHOD, params, function(err, result)
    answered = true
    if state.pending == id then
      state.pending = nil
    end
    if err or not result then
      return
    end
    -- Answers for an older keystroke are dropped: a newer request is on its way.
    local now_row, now_col = cursor_in(bufnr)
    if api.nvim_buf_get_changedtick(bufnr) ~= tick or now_row ~= row or now_col ~= col then
      return
    end
    if not vim.startswith(api.nvim_get_mode().mode, "i") then
      return
    end
    -- The answer supersedes the shown suggestion, even when it has nothing to show.
    if state.shown then
      state.shown.item.over = true
    end
    state.items = to_items(bufnr, client, result, row, col)
    state.index = 1
    render(bufnr)
  end, bufnr)
  -- An in-process server may have answered already.
  state.pending = (ok and not answered) and id or nil
end

-- Each keystroke: keep showing what it continues, and ask again after a short pause.
local function on_typing(bufnr)
  local state = states[bufnr]
  if not state then
    return
  end
  render(bufnr)
  if not enabled then
    return
  end
  stop_timer(state)
  local timer = assert(vim.uv.new_timer())
  state.timer = timer
  timer:start(
    math.max(0, config.options.debounce_ms or 0),
    0,
    vim.schedule_wrap(function()
      if state.timer == timer then
        stop_timer(state)
        request(bufnr, TRIGGER.automatic)
      end
    end)
  )
end

---@param client vim.lsp.Client
---@param bufnr integer
function M.attach(client, bufnr)
  if states[bufnr] then
    return
  end
  states[bufnr] = { client_id = client.id, items = {}, index = 1 }
  local group = api.nvim_create_augroup("lsp_assist.ghost." .. bufnr, { clear = true })
  api.nvim_create_autocmd({ "TextChangedI", "CursorMovedI" }, {
    group = group,
    buffer = bufnr,
    callback = function()
      on_typing(bufnr)
    end,
  })
  api.nvim_create_autocmd({ "InsertLeave", "BufLeave" }, {
    group = group,
    buffer = bufnr,
    callback = function()
      M.clear(bufnr)
    end,
  })
  api.nvim_create_autocmd("LspDetach", {
    group = group,
    buffer = bufnr,
    callback = function(args)
      if args.data.client_id == client.id then
        M.detach(bufnr)
      end
    end,
  })
end

function M.detach(bufnr)
  M.clear(bufnr)
  states[bufnr] = nil
  pcall(api.nvim_del_augroup_by_name, "lsp_assist.ghost." .. bufnr)
end

---@return boolean
function M.visible(bufnr)
  local state = states[bufnr]
  return state ~= nil and state.shown ~= nil
end

--- Puts the rest of the shown suggestion in the buffer and the cursor at its end.
---@return boolean accepted
function M.accept(bufnr)
  local state = states[bufnr]
  local shown = state and state.shown
  if not shown then
    return false
  end
  local item = shown.item
  local rest, end_col = remainder_of(bufnr, item)
  local row, col = cursor_in(bufnr)
  if not rest or not row then
    return false
  end
  item.over = true
  M.clear(bufnr)
  if item.snippet then
    -- The snippet replaces what was typed of it.
    api.nvim_buf_set_text(bufnr, item.row, item.start_col, row, end_col, { "" })
    api.nvim_win_set_cursor(0, { item.row + 1, item.start_col })
    vim.snippet.expand(item.snippet)
    tell(state, item, "accepted")
    return true
  end
  local lines = split_lines(rest)
  api.nvim_buf_set_text(bufnr, row, col, row, end_col, lines)
  local last_col = (#lines == 1 and col or 0) + #lines[#lines]
  api.nvim_win_set_cursor(0, { row + #lines, last_col })
  tell(state, item, "accepted", #item.text)
  return true
end

--- Puts the next word (`unit` "word") or line ("line") of the shown suggestion in the buffer;
--- the rest stays shown. A part that is all that is left accepts the suggestion.
---@param unit "word"|"line"
---@return boolean accepted
function M.accept_part(bufnr, unit)
  local state = states[bufnr]
  local shown = state and state.shown
  if not shown then
    return false
  end
  local item = shown.item
  local rest, _, held = remainder_of(bufnr, item)
  local row, col = cursor_in(bufnr)
  if not rest or not held or not row then
    return false
  end
  local part = unit == "line" and parts.next_line(rest) or parts.next_word(rest)
  if item.snippet or #part >= #rest then
    return M.accept(bufnr)
  end
  local lines = split_lines(part)
  api.nvim_buf_set_text(bufnr, row, col, row, col, lines)
  api.nvim_win_set_cursor(0, { row + #lines, (#lines == 1 and col or 0) + #lines[#lines] })
  item.accepted = #held + #part
  tell(state, item, "partial", item.accepted)
  render(bufnr)
  return true
end

--- Shows the next (`step` 1) or previous (-1) item; with none shown, asks the server now.
function M.cycle(bufnr, step)
  local state = states[bufnr]
  if not state then
    return
  end
  if not state.shown or #state.items < 2 then
    if not state.shown then
      request(bufnr, TRIGGER.invoked)
    end
    return
  end
  state.index = (state.index - 1 + step) % #state.items + 1
  render(bufnr)
end

function M.dismiss(bufnr)
  M.clear(bufnr)
end

--- Completions on or off for every buffer (`:LspAssistToggle`).
function M.set_enabled(value)
  enabled = value
  if not value then
    for bufnr in pairs(states) do
      M.clear(bufnr)
    end
  end
end

local function define_highlight()
  api.nvim_set_hl(0, "LspAssistGhost", { link = "Comment", default = true })
end
define_highlight()
-- `:colorscheme` clears highlight groups, default links included.
api.nvim_create_autocmd("ColorScheme", { callback = define_highlight })

return M
