-- wrk script of bench_intake.py. POSTs the flag-change webhook of the file BENCH_BODY_FILE, its
-- "BENCH_ID" replaced in each request by a unique id "<BENCH_RUN>-<thread>-<n>". With
-- BENCH_PAUSE_MS set, each connection waits that long before each request (a paced load).
local counter = 0
local threads_made = 0
local run = os.getenv("BENCH_RUN") or "run"
local file = assert(io.open(assert(os.getenv("BENCH_BODY_FILE"), "BENCH_BODY_FILE is not set"), "rb"))
local template = file:read("*a")
file:close()
local at = assert(string.find(template, "BENCH_ID", 1, true), "no BENCH_ID in the body template")
local head, tail = string.sub(template, 1, at - 1), string.sub(template, at + 8)
local pause = tonumber(os.getenv("BENCH_PAUSE_MS") or "")

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

function setup(thread)
  threads_made = threads_made + 1
  thread:set("thread_number", threads_made)
end

function request()
  counter = counter + 1
  return wrk.format(nil, nil, nil, head .. run .. "-" .. thread_number .. "-" .. counter .. tail)
end

if pause then
  function delay()
    return pause
  end
end
