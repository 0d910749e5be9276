-- Run by tests/test_lsp.py: nvim --headless --clean -c "luafile nvim_completion.lua" FILE
-- Starts `nextword lsp` with Neovim's own client (the 0.7 API: start_client, buf_request_sync),
-- types a line into the buffer (sent as incremental changes), asks for completion after a
-- space and inside a word, writes the labels to $NEXTWORD_TEST_OUT as JSON and quits;
-- any failure quits with status 1 and the reason on stderr.
local function fail(message)
  io.stderr:write("nvim_completion.lua: " .. message .. "\n")
  vim.cmd("cquit 1")
end

local ok, err = pcall(function()
  local client_id = vim.lsp.start_client({
    name = "nextword",
    cmd = { vim.env.NEXTWORD_TEST_PYTHON, "-m", "nextword", "lsp" },
    init_options = { model = vim.env.NEXTWORD_TEST_MODEL },
    root_dir = vim.fn.getcwd(),
  })
  assert(client_id, "start_client failed")
  vim.bo.filetype = "text"
  vim.lsp.buf_attach_client(0, client_id)
  local started = vim.wait(60000, function()
    local client = vim.lsp.get_client_by_id(client_id)
    return client ~= nil and client.initialized
  end, 50)
  assert(started, "the server did not initialize within 60 s")

  local function labels(line, character)
    local params = {
      textDocument = { uri = vim.uri_from_bufnr(0) },
      position = { line = line, character = character },
    }
    local responses, request_err = vim.lsp.buf_request_sync(0, "textDocument/completion", params, 20000)
    assert(responses, "no completion response: " .. tostring(request_err))
    local response = responses[client_id]
    assert(response and not response.err, "completion failed: " .. vim.inspect(response))
    local items = response.result and (response.result.items or response.result) or {}
    local found = {}
    for _, item in ipairs(items) do
      table.insert(found, item.label)
    end
    return found
  end

  vim.api.nvim_buf_set_lines(0, 1, 1, false, { "A dog " })
  local after_space = labels(1, 6)
  vim.api.nvim_buf_set_text(0, 1, 6, 1, 6, { "ba" })
  local in_word = labels(1, 8)

  local out = assert(io.open(vim.env.NEXTWORD_TEST_OUT, "w"))
  out:write(vim.fn.json_encode({ next = after_space, word = in_word }))
  out:close()
  vim.lsp.stop_client(client_id)
  vim.wait(5000, function() return vim.lsp.get_client_by_id(client_id) == nil end, 50)
end)
if not ok then
  fail(tostring(err))
else
  vim.cmd("qall!")
end
