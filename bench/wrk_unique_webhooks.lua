-- wrk script: POST flag-platform webhooks, each with an _id of its own (so none is a duplicate).
math.randomseed(os.time() + math.floor(os.clock() * 1e6))
local counter = 0
local prefix = tostring(math.random(1, 1e9))

function setup(thread)
  thread:set("tid", tostring(math.random(1, 1e9)))
end

request = function()
  counter = counter + 1
  local body = '{"_id":"wrk-' .. prefix .. '-' .. tid .. '-' .. counter .. '","kind":"flag","date":1700000000000,'
    .. '"title":"turned on bench-flag","accesses":[{"action":"updateOn","resource":"proj/bench:env/production:flag/bench-flag"}]}'
  return wrk.format("POST", "/webhooks/launchdarkly", {["Content-Type"] = "application/json"}, body)
end

done = function(summary, latency, requests)
  io.write(string.format("RESULT requests=%d non2xx=%d errors=%d seconds=%.3f\n", summary.requests,
    summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.duration / 1e6))
end
