-- wrk script: parents filing opinions, as a browser does, at wrk's speed rather than Python's.
--
-- Each connection asks for a school's complaint form (GET); the answer's session cookie,
-- CSRF token and one-time token make a multipart POST of a new opinion, which the next free
-- connection sends; the answer must be the receipt page. Each receipt code shown is written
-- with its subject, one line per receipt, to "<prefix><thread>.tsv", so that submissions.py
-- can check every code against what was stored. Prints report.lua's BENCH_JSON line and a
-- SUBMIT_JSON line of counts.
--
-- Arguments (after "--"): prefix of the output files, phase (the subjects' second word
-- onwards), then the form paths, taken in turn.

local here = debug.getinfo(1, "S").source:sub(2):match("(.*/)") or "./"
dofile(here .. "report.lua")
local report = done

local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
  table.insert(threads, thread)
end

function init(args)
  prefix, phase = args[1], args[2]
  paths = {}
  for i = 3, #args do paths[#paths + 1] = args[i] end
  queue, pending = {}, {}
  turn, sequence = 0, 0
  forms, receipts, unexpected = 0, 0, 0
  out = assert(io.open(prefix .. id .. ".tsv", "w"))
  math.randomseed(os.time() * 1000 + id)
end

local function part(boundary, name, value)
  return "--" .. boundary .. "\r\nContent-Disposition: form-data; name=\"" .. name ..
         "\"\r\n\r\n" .. value .. "\r\n"
end

local function opinion(path, cookie, csrf, token)
  sequence = sequence + 1
  local subject = string.format("soak %s c%d n%d %06x", phase, id, sequence,
                                math.random(0, 0xffffff))
  local boundary = string.format("----wrk%08x%08x", math.random(0, 0x7fffffff),
                                 math.random(0, 0x7fffffff))
  local fields = {
    {"csrf_token", csrf}, {"token", token}, {"reference", ""}, {"kind", "complaint"},
    {"category", "teaching"}, {"subject", subject},
    {"description", "Load test: " .. subject .. ". 压力测试。"}, {"identity", "anonymous"},
    {"contact_name", ""}, {"contact_phone", ""}, {"contact_email", ""}, {"website", ""},
  }
  local body = {}
  for _, field in ipairs(fields) do body[#body + 1] = part(boundary, field[1], field[2]) end
  -- An empty file input, as a browser sends it when nothing was chosen.
  body[#body + 1] = "--" .. boundary .. "\r\nContent-Disposition: form-data; name=\"attachments\"; " ..
                    "filename=\"\"\r\nContent-Type: application/octet-stream\r\n\r\n\r\n"
  body[#body + 1] = "--" .. boundary .. "--\r\n"
  pending[subject] = true
  return wrk.format("POST", path, {
    ["Cookie"] = cookie,
    ["Content-Type"] = "multipart/form-data; boundary=" .. boundary,
  }, table.concat(body))
end

function request()
  local item = table.remove(queue, 1)
  if item ~= nil then
    return opinion(item.path, item.cookie, item.csrf, item.token)
  end
  turn = turn % #paths + 1
  return wrk.format("GET", paths[turn], {["Cookie"] = ""})
end

local function value_of(body, name)
  return body:match('name="' .. name .. '" type="hidden" value="([^"]*)"')
end

function response(status, headers, body)
  local code = status == 200 and body:match('class="receipt%-code">(.-)</p>')
  if code then
    code = code:gsub("<[^>]+>", "")
    for subject in pairs(pending) do
      if body:find(subject, 1, true) then
        pending[subject] = nil
        receipts = receipts + 1
        out:write(subject, "\t", code, "\n")
        out:flush()
        return
      end
    end
    unexpected = unexpected + 1  -- a receipt, but of no opinion this thread sent
    return
  end
  local csrf, token = status == 200 and value_of(body, "csrf_token"), value_of(body, "token")
  local cookie = (headers["Set-Cookie"] or headers["set-cookie"] or ""):match("^([^;]+)")
  -- The form posts to itself: its address is the one the language links come back to.
  local path = body:match('href="/lang/[%w_]+%?next=(/[^"]*)"')
  if csrf and token and cookie and path then
    forms = forms + 1
    table.insert(queue, {path = path, cookie = cookie, csrf = csrf, token = token})
  else
    unexpected = unexpected + 1
  end
end

function done(summary, latency, requests)
  report(summary, latency, requests)
  local f, r, u = 0, 0, 0
  for _, thread in ipairs(threads) do
    f = f + (thread:get("forms") or 0)
    r = r + (thread:get("receipts") or 0)
    u = u + (thread:get("unexpected") or 0)
  end
  io.write(string.format('SUBMIT_JSON {"forms": %d, "receipts": %d, "unexpected": %d}\n', f, r, u))
end
