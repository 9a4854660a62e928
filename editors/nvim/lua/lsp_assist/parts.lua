-- The parts of a suggestion that a partial accept takes: its next word, its next line.
local M = {}

-- Letters, digits, _ and every byte of a multi-byte character: a word never splits one.
local WORD = "[%w_\128-\255]+"
local OTHER = "[^%w_%s\128-\255]+"

--- The next word of `text`: blanks (line breaks too), then a word (letters, digits, `_`,
--- non-ASCII characters) or a run of other non-blank characters; all of `text` when it is
--- blank.
---@param text string
---@return string
function M.next_word(text)
  return text:match("^%s*" .. WORD) or text:match("^%s*" .. OTHER) or text
end

--- The next line of `text` with its line break: the rest of the cursor's line or, when that
--- is done (`text` starts with a line break), the line after it.
---@param text string
---@return string
function M.next_line(text)
  return text:match("^\n*[^\n]*\n?")
end

return M
