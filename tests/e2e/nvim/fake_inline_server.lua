-- An in-process LSP server named "lsp_assist" for the current buffer that answers every
-- textDocument/inlineCompletion with `items`: the plugin's handling of what lsp-assist itself
-- never sends (several items, ranges over typed text, snippets) is tested against it.
-- Usage: dofile(path)(items) → the client id.
return function(items)
  local next_id = 0
  local function server(dispatchers)
    local closing = false
    return {
      request = function(method, _, callback)
        next_id = next_id + 1
        local result = nil
        if method == "initialize" then
          result = { capabilities = { inlineCompletionProvider = true, textDocumentSync = 1 } }
        elseif method == "textDocument/inlineCompletion" then
          result = { items = items }
        end
        -- Answer later, as a real server does.
        vim.schedule(function()
          callback(nil, result)
        end)
        return true, next_id
      end,
      notify = function(method)
        if method == "exit" then
          dispatchers.on_exit(0, 0)
        end
        return true
      end,
      is_closing = function()
        return closing
      end,
      terminate = function()
        closing = true
      end,
    }
  end
  return vim.lsp.start({ name = "lsp_assist", cmd = server, root_dir = vim.fn.getcwd() })
end
