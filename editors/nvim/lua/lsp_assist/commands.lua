-- The user commands: the server's workspace/executeCommand commands, and the completion
-- toggle (a setting the server re-reads on workspace/didChangeConfiguration).
local config = require("lsp_assist.config")

local M = {}

local NAME = "lsp_assist"

-- Doctor requests in flight, per client: their report is shown by the command itself, so the
-- server's window/showMessage copy of it is dropped (see `on_show_message`).
local doctor_pending = {}

local function notify(message, level)
  vim.notify("lsp-assist: " .. message, level or vim.log.levels.INFO)
end

--- The client attached to `bufnr`, or with `any_buffer` the first one running.
---@return vim.lsp.Client?
local function client_for(bufnr, any_buffer)
  local clients = vim.lsp.get_clients({ name = NAME, bufnr = bufnr })
  if #clients == 0 and any_buffer then
    clients = vim.lsp.get_clients({ name = NAME })
  end
  if #clients == 0 then
    local where = any_buffer and "running" or "attached to this buffer"
    notify(
      "the server is not " .. where .. " (open a supported file, or see :checkhealth lsp_assist)",
      vim.log.levels.WARN
    )
    return nil
  end
  return clients[1]
end

--- workspace/executeCommand; `on_result(result, err)`, or a message when it fails and there is
--- no `on_result`.
local function execute(client, command, arguments, bufnr, on_result)
  local params = { command = command, arguments = arguments }
  client:request("workspace/executeCommand", params, function(err, result)
    if on_result then
      on_result(not err and result or nil, err)
    elseif err then
      notify(command .. " failed: " .. (err.message or vim.inspect(err)), vim.log.levels.ERROR)
    end
  end, bufnr)
end

function M.review_file()
  local bufnr = vim.api.nvim_get_current_buf()
  local client = client_for(bufnr)
  if client then
    notify("reviewing " .. vim.fn.fnamemodify(vim.api.nvim_buf_get_name(bufnr), ":~:."))
    execute(client, "lspAssist.reviewFile", { vim.uri_from_bufnr(bufnr) }, bufnr)
  end
end

--- Reviews the functions changed against git HEAD, in every open document.
function M.review_changes()
  local client = client_for(vim.api.nvim_get_current_buf(), true)
  if client then
    notify("reviewing the changes against HEAD")
    execute(client, "lspAssist.reviewChanges", {}, nil)
  end
end

--- The doctor's JSON report as lines, the way `lsp-assist doctor` prints it.
---@param report table
---@return string[]
function M.format_doctor(report)
  local function mark(ok)
    return ok and "[ok]" or ok == nil and "[--]" or "[!!]"
  end
  local lines = {}
  local host = report.host or {}
  if host.reachable and (host.problem or "") == "" then
    lines[#lines + 1] = string.format("[ok] Ollama %s at %s", host.version or "", host.url)
  else
    lines[#lines + 1] = string.format("[!!] Ollama at %s: %s", host.url, host.problem or "")
  end
  if (host.fix or "") ~= "" then
    lines[#lines + 1] = "     fix: " .. host.fix
  end
  for _, model in ipairs(report.models or {}) do
    local problem = model.problem or ""
    local ok, facts
    if model.pulled == nil and problem == "" then
      ok, facts = nil, "not checked" -- the host is unreachable
    elseif problem ~= "" then
      ok, facts = false, problem
    else
      ok = true
      local parts = { "pulled" }
      if model.fim then
        parts[#parts + 1] = "fills in the middle via " .. model.fim_via
      elseif model.role == "review" then
        parts[#parts + 1] = "no fill-in-the-middle (fine for review)"
      end
      if model.context_length then
        parts[#parts + 1] = string.format("context %d tokens", model.context_length)
      end
      facts = table.concat(parts, ", ")
    end
    lines[#lines + 1] =
      string.format("%s %s (%s model): %s", mark(ok), model.name, model.role, facts)
    if (model.fix or "") ~= "" then
      lines[#lines + 1] = "     fix: " .. model.fix
    end
  end
  lines[#lines + 1] = report.ok and "All good." or "Problems found."
  return lines
end

--- Runs lspAssist.doctor; `on_report(report)` gets the JSON report (nil on failure).
function M.run_doctor(client, on_report)
  doctor_pending[client.id] = (doctor_pending[client.id] or 0) + 1
  execute(client, "lspAssist.doctor", {}, nil, function(report, err)
    -- The server sends its showMessage copy before this answer, so it has been dropped.
    doctor_pending[client.id] = math.max(0, doctor_pending[client.id] - 1)
    on_report(report, err)
  end)
end

function M.doctor()
  local client = client_for(vim.api.nvim_get_current_buf(), true)
  if not client then
    return
  end
  M.run_doctor(client, function(report, err)
    if not report then
      notify("doctor failed: " .. (err and err.message or "no answer"), vim.log.levels.ERROR)
      return
    end
    local level = report.ok and vim.log.levels.INFO or vim.log.levels.WARN
    vim.notify("lsp-assist doctor\n" .. table.concat(M.format_doctor(report), "\n"), level)
  end)
end

function M.pull_models(model)
  local client = client_for(vim.api.nvim_get_current_buf(), true)
  if client then
    notify(model and ("pulling " .. model) or "pulling the missing models")
    -- Progress shows through $/progress; failures through the server's own message.
    execute(client, "lspAssist.pullModels", model and { model } or {}, nil, function(results)
      local failed = vim.tbl_filter(function(r)
        return not r.ok
      end, results or {})
      if results and #failed == 0 then
        notify("models ready")
      end
    end)
  end
end

--- window/showMessage for lsp-assist: as Neovim's own, except the doctor report that a
--- doctor command is about to show itself.
function M.on_show_message(err, params, ctx, handler_config)
  local message = params and params.message or ""
  local is_report = message:match("^%[ok%] Ollama") or message:match("^%[!!%] Ollama")
  if is_report and (doctor_pending[ctx.client_id] or 0) > 0 then
    return vim.NIL
  end
  return vim.lsp.handlers["window/showMessage"](err, params, ctx, handler_config)
end

function M.completion_enabled()
  local completion = (config.options.settings or {}).completion or {}
  return completion.enabled ~= false
end

--- Completions on or off: the setting goes to every running server and to the ones that
--- start later; ghost text stops (or starts) drawing at once.
function M.toggle()
  local enabled = not M.completion_enabled()
  local settings = config.options.settings
  settings.completion = settings.completion or {}
  settings.completion.enabled = enabled
  vim.lsp.config(NAME, {
    init_options = { completion = { enabled = enabled } },
    settings = { lspAssist = { completion = { enabled = enabled } } },
  })
  for _, client in ipairs(vim.lsp.get_clients({ name = NAME })) do
    client.settings = vim.tbl_deep_extend("force", client.settings or {}, {
      lspAssist = { completion = { enabled = enabled } },
    })
    client:notify("workspace/didChangeConfiguration", { settings = client.settings })
  end
  local ghost = config.ghost_module()
  if ghost then
    ghost.set_enabled(enabled)
  end
  notify("completions " .. (enabled and "on" or "off"))
  return enabled
end

function M.create_user_commands()
  local function command(name, run, opts)
    vim.api.nvim_create_user_command(name, run, opts)
  end
  command("LspAssistReview", M.review_file, {
    desc = "lsp-assist: review every function of this buffer now",
  })
  command("LspAssistReviewChanges", M.review_changes, {
    desc = "lsp-assist: review the functions changed against git HEAD (open files)",
  })
  command("LspAssistDoctor", M.doctor, { desc = "lsp-assist: check Ollama and the models" })
  command("LspAssistPullModels", function(args)
    M.pull_models(args.args ~= "" and args.args or nil)
  end, { nargs = "?", desc = "lsp-assist: pull the missing models (or the one named)" })
  command("LspAssistToggle", M.toggle, { desc = "lsp-assist: completions on/off" })
  command("LspAssistStatus", function()
    local text = require("lsp_assist.status").text()
    vim.notify(text ~= "" and text or "lsp-assist: no status yet")
  end, { desc = "lsp-assist: the server's last status" })
end

return M
