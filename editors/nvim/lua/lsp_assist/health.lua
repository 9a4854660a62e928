-- :checkhealth lsp_assist
local config = require("lsp_assist.config")

local health = vim.health
local M = {}

local DOCTOR_TIMEOUT_MS = 15000
local CONNECT_TIMEOUT_MS = 2000

-- What vim.lsp.enable() will start: setup() and any vim.lsp.config() calls merged.
local function resolved_config()
  return vim.lsp.config.lsp_assist or {}
end

local function ollama_host()
  local resolved = resolved_config()
  local host = vim.tbl_get(resolved, "settings", "lspAssist", "ollama", "host")
    or vim.tbl_get(resolved, "init_options", "ollama", "host")
  if not host or host == "" then
    host = vim.env.OLLAMA_HOST
  end
  if not host or host == "" then
    host = "http://127.0.0.1:11434"
  end
  return host
end

-- "http://host:port/path" → host, port (as Ollama reads $OLLAMA_HOST: scheme optional).
local function host_and_port(url)
  local rest = url:gsub("^%a+://", "")
  rest = rest:gsub("/.*$", "")
  local host, port = rest:match("^%[(.+)%]:?(%d*)$")
  if not host then
    host, port = rest:match("^([^:]+):?(%d*)$")
  end
  local default_port = url:match("^https://") and 443 or (url:match("^http://") and 80 or 11434)
  return host or "127.0.0.1", tonumber(port) or default_port
end

-- Without a running server, a TCP connect tells whether anything listens at Ollama's address.
local function tcp_reachable(url)
  local host, port = host_and_port(url)
  local addresses = vim.uv.getaddrinfo(host, nil, { socktype = "stream" }) or {}
  local address = addresses[1] and addresses[1].addr or host
  local tcp = assert(vim.uv.new_tcp())
  local outcome
  local ok, err = pcall(tcp.connect, tcp, address, port, function(connect_err)
    outcome = connect_err or true
  end)
  if not ok then
    tcp:close()
    return false, tostring(err)
  end
  vim.wait(CONNECT_TIMEOUT_MS, function()
    return outcome ~= nil
  end, 10)
  if not tcp:is_closing() then
    tcp:close()
  end
  if outcome == true then
    return true
  end
  return false, outcome or "no answer within " .. CONNECT_TIMEOUT_MS .. " ms"
end

local function check_neovim()
  health.start("Neovim")
  local v = vim.version()
  local version = string.format("%d.%d.%d", v.major, v.minor, v.patch)
  if vim.fn.has("nvim-0.11") == 1 then
    health.ok("Neovim " .. version)
  else
    health.error("Neovim " .. version .. ": lsp-assist needs 0.11 or later")
  end
  local mode = config.ghost_mode()
  if mode == "native" then
    health.ok("ghost text: native (vim.lsp.inline_completion; whole suggestions only)")
  elseif mode == "extmarks" then
    local why = config.options.ghost_text == "native"
        and "this Neovim has no vim.lsp.inline_completion"
      or "accepts a word or a line at a time"
    health.ok("ghost text: extmarks drawn by lsp-assist (" .. why .. ")")
  else
    health.info("ghost text: off (ghost_text = false)")
  end
end

---@return vim.lsp.Client[]
local function check_server()
  health.start("lsp-assist server")
  local cmd = resolved_config().cmd or config.options.cmd
  if type(cmd) == "table" then
    if vim.fn.executable(cmd[1]) == 1 then
      health.ok("server command: " .. table.concat(cmd, " "))
    else
      health.error(
        "server command not found: " .. cmd[1],
        { "install lsp-assist (see its README) or set `cmd` in setup()" }
      )
    end
  else
    health.info("server command: a function (set in the config)")
  end
  local clients = vim.lsp.get_clients({ name = "lsp_assist" })
  if #clients == 0 then
    health.warn("no lsp-assist server is running", {
      "open a file of a supported filetype: " .. table.concat(config.options.filetypes, ", "),
    })
    return clients
  end
  for _, client in ipairs(clients) do
    local buffers = vim.tbl_count(client.attached_buffers)
    local server = client.server_info or {}
    health.ok(string.format(
      "server attached: %s %s (client %d, %d buffer%s, root %s, %s positions)",
      server.name or "lsp-assist",
      server.version or "",
      client.id,
      buffers,
      buffers == 1 and "" or "s",
      client.root_dir or "none",
      client.offset_encoding
    ))
    if not client:supports_method("textDocument/inlineCompletion") then
      health.warn("the server does not offer textDocument/inlineCompletion")
    end
  end
  if not require("lsp_assist").completion_enabled() then
    health.info("completions are off (:LspAssistToggle)")
  end
  return clients
end

local function check_ollama(clients)
  health.start("Ollama")
  local client = clients[1]
  if not client then
    local url = ollama_host()
    local reachable, err = tcp_reachable(url)
    if reachable then
      health.ok("something listens at " .. url .. " (start the server for a full check)")
    else
      health.warn(
        "nothing listens at " .. url .. ": " .. tostring(err),
        { "start Ollama: ollama serve" }
      )
    end
    return
  end
  local commands = require("lsp_assist.commands")
  local report, err
  commands.run_doctor(client, function(result, request_err)
    report, err = result or false, request_err
  end)
  vim.wait(DOCTOR_TIMEOUT_MS, function()
    return report ~= nil
  end, 20)
  if not report then
    health.error("lspAssist.doctor gave no report: " .. (err and err.message or "timed out"))
    return
  end
  for _, line in ipairs(commands.format_doctor(report)) do
    if line:match("^%[ok%]") then
      health.ok(line:sub(6))
    elseif line:match("^%[!!%]") then
      health.error(line:sub(6))
    elseif line:match("^%[%-%-%]") then
      health.info(line:sub(6))
    elseif line:match("^%s+fix:") or line:match("^Endpoints: ") then
      health.info(vim.trim(line))
    end
  end
end

function M.check()
  check_neovim()
  check_ollama(check_server())
end

return M
