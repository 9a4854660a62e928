-- Headless Neovim smoke test: attach lsp-assist through vim.lsp.config / vim.lsp.enable and
-- ask it for an inline completion at the end of the buffer. Results go to $RESULT as JSON.
local result_path = os.getenv("RESULT")
local function finish(payload)
  local f = assert(io.open(result_path, "w"))
  f:write(vim.json.encode(payload))
  f:close()
  vim.cmd("qa!")
end

vim.lsp.config("lsp_assist", {
  cmd = { os.getenv("LSP_ASSIST_PYTHON"), "-m", "lsp_assist", "serve" },
  filetypes = { "python" },
  root_markers = { ".git" },
  init_options = {
    ollama = { host = os.getenv("OLLAMA_URL") },
    completion = { debounceMs = 0 },
  },
})
vim.lsp.enable("lsp_assist")

vim.api.nvim_create_autocmd("LspAttach", {
  callback = function(args)
    local client = vim.lsp.get_client_by_id(args.data.client_id)
    local bufnr = args.buf
    local last = vim.api.nvim_buf_line_count(bufnr) - 1
    local line = vim.api.nvim_buf_get_lines(bufnr, last, last + 1, false)[1]
    local params = {
      textDocument = { uri = vim.uri_from_bufnr(bufnr) },
      position = { line = last, character = #line },
      context = { triggerKind = 1 },
    }
    local response, err = client:request_sync("textDocument/inlineCompletion", params, 10000, bufnr)
    finish({
      encoding = client.offset_encoding,
      response = response,
      err = err,
    })
  end,
})

vim.defer_fn(function()
  finish({ err = "no LspAttach within 20 s" })
end, 20000)
