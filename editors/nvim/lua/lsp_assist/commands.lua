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

-- The doctor's report as `lsp-assist doctor` prints it (lsp_assist/doctor/format.py): the
-- Ollama-only shape (`host`, `models`), or with named endpoints (`lspAssist.endpoints`) a line
-- per endpoint, its models under it, after the line that says which endpoints each role tries.

local KIND_NAMES = {
  ollama = "Ollama",
  llamacpp = "llama.cpp",
  openai = "OpenAI-compatible server",
  embedded = "the embedded llama.cpp",
  offline = "the offline engine",
}
local ROLE_WORDS = { completion = "completions", review = "reviews" }
local PRESENT_WORDS = { ollama = "pulled", embedded = "file present" }
local VERSION_WORDS = { ollama = "Ollama ", llamacpp = "build ", openai = "version " }

-- JSON's null, however it was decoded (nil, or vim.NIL).
local function value(x)
  if x == vim.NIL then
    return nil
  end
  return x
end

local function text(x)
  x = value(x)
  return x ~= nil and tostring(x) or ""
end

local function mark(ok)
  return ok and "[ok]" or ok == nil and "[--]" or "[!!]"
end

local function model_ok(model)
  return value(model.present) == true and text(model.problem) == ""
end

local function model_facts(model)
  local facts = {}
  if value(model.fim) then
    facts[#facts + 1] = "fills in the middle via " .. text(model.fim_via)
  elseif model.role == "completion" then
    facts[#facts + 1] = text(model.problem)
  else
    facts[#facts + 1] = "no fill-in-the-middle (fine for review)"
  end
  local context = value(model.context_length)
  if context and context ~= 0 then
    facts[#facts + 1] = string.format("context %d tokens", context)
  end
  return facts
end

local function fix_line(lines, thing)
  if text(thing.fix) ~= "" then
    lines[#lines + 1] = "     fix: " .. text(thing.fix)
  end
end

local function problems_line(count)
  return string.format("%d problem%s found.", count, count ~= 1 and "s" or "")
end

local function format_ollama_only(report)
  local lines = {}
  local host = value(report.host) or {}
  local reachable = value(host.reachable) == true
  if reachable and text(host.problem) == "" then
    lines[#lines + 1] = string.format("[ok] Ollama %s at %s", text(host.version), text(host.url))
  else
    lines[#lines + 1] = string.format("[!!] Ollama at %s: %s", text(host.url), text(host.problem))
  end
  fix_line(lines, host)
  local problems = text(host.problem) ~= "" and 1 or 0
  for _, model in ipairs(value(report.models) or {}) do
    local head = string.format("%s (%s model)", text(model.name), text(model.role))
    local pulled, problem = value(model.pulled), text(model.problem)
    if problem ~= "" then
      problems = problems + 1
    end
    if pulled == nil and problem == "" then
      lines[#lines + 1] = string.format("%s %s: not checked", mark(nil), head)
    elseif pulled == false or (pulled == nil and problem ~= "") then
      lines[#lines + 1] = string.format("%s %s: %s", mark(false), head, problem)
    else
      local facts = table.concat(model_facts(model), ", ")
      lines[#lines + 1] = string.format("%s %s: pulled, %s", mark(model_ok(model)), head, facts)
    end
    fix_line(lines, model)
  end
  if value(report.ok) then
    lines[#lines + 1] = "All good."
  elseif not reachable then
    lines[#lines + 1] = "Ollama is not usable: the models were not checked."
  else
    lines[#lines + 1] = problems_line(problems)
  end
  return lines
end

local function routes_line(report)
  local routes = {}
  local named = value(report.routes) or {}
  -- The server's order: completions, then reviews (a JSON object keeps none).
  for _, role in ipairs({ "completion", "review" }) do
    local names = value(named[role])
    if names then
      local from = #names > 0 and table.concat(names, " then ") or "no endpoint"
      routes[#routes + 1] = ROLE_WORDS[role] .. " from " .. from
    end
  end
  local said = #routes > 0 and table.concat(routes, "; ") or "completions and reviews are off"
  return "Endpoints: " .. said
end

local function endpoint_line(endpoint)
  local kind = text(endpoint.kind)
  local what = KIND_NAMES[kind] or kind
  if kind ~= "embedded" and kind ~= "offline" then
    what = what .. " at " .. text(endpoint.url)
  end
  if text(endpoint.version) ~= "" then
    what = what .. ", " .. (VERSION_WORDS[kind] or "") .. text(endpoint.version)
  end
  if kind == "offline" then
    what = what .. " (learns from the workspace's code: nothing to check)"
  end
  local ok = value(endpoint.reachable) == true and text(endpoint.problem) == ""
  local line = string.format("%s %s: %s", mark(ok), text(endpoint.name), what)
  return text(endpoint.problem) ~= "" and (line .. ": " .. text(endpoint.problem)) or line
end

local function endpoint_model_line(endpoint, model)
  local head = string.format("%s (%s model)", text(model.name), text(model.role))
  local present, problem = value(model.present), text(model.problem)
  if present == nil and problem == "" then
    return string.format("%s   %s: not checked", mark(nil), head)
  elseif not present then
    return string.format("%s   %s: %s", mark(false), head, problem)
  end
  local facts = { PRESENT_WORDS[text(endpoint.kind)] or "served" }
  vim.list_extend(facts, model_facts(model))
  if problem ~= "" and model.role ~= "completion" then
    facts[#facts + 1] = problem
  end
  local note = text(model.note) ~= "" and ("; " .. text(model.note)) or ""
  return string.format("%s   %s: %s%s", mark(model_ok(model)), head, table.concat(facts, ", "), note)
end

local function format_endpoints(report)
  local lines = { routes_line(report) }
  local problems = 0
  for _, endpoint in ipairs(value(report.endpoints) or {}) do
    lines[#lines + 1] = endpoint_line(endpoint)
    fix_line(lines, endpoint)
    problems = problems + (text(endpoint.problem) ~= "" and 1 or 0)
    for _, model in ipairs(value(endpoint.models) or {}) do
      lines[#lines + 1] = endpoint_model_line(endpoint, model)
      fix_line(lines, model)
      problems = problems + (text(model.problem) ~= "" and 1 or 0)
    end
  end
  local unused = value(report.unused) or {}
  if #unused > 0 then
    lines[#lines + 1] = mark(nil) .. " not used by any role, not checked: " .. table.concat(unused, ", ")
  end
  lines[#lines + 1] = value(report.ok) and "All good." or problems_line(problems)
  return lines
end

--- The doctor's JSON report as lines, the way `lsp-assist doctor` prints it, whichever shape
--- it has: Ollama-only, or named endpoints (`routes` and `endpoints`, `host` only when one of
--- them is Ollama).
---@param report table
---@return string[]
function M.format_doctor(report)
  local named = value(report.routes) ~= nil or (value(report.host) == nil and value(report.endpoints))
  return named and format_endpoints(report) or format_ollama_only(report)
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
  local is_report = message:match("^%[ok%] Ollama")
    or message:match("^%[!!%] Ollama")
    or message:match("^Endpoints: ")
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
