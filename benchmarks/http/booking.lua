-- wrk script of `make bench-http`: POST /booking of distinct free slots, each with
-- the user's own bearer token. benchmarks/http_bench.py writes the data file named
-- by BENCH_HTTP_DATA:
--   line 1:  first threads slotBase slotSeconds hosts users   (numbers)
--   then `hosts` lines: hostId
--   then `users` lines: userId token
-- Thread t of T sends the global request indices first+t, first+t+T, ...; request i
-- books host i mod hosts for user i mod users, at slot floor(i / hosts) after
-- slotBase (epoch seconds), so indices never repeat a slot. done() prints one line
-- "BENCH-JSON {...}": status counts, wrk's latency and errors, the highest index
-- sent, and the bookingId of every 201. `sent` counts request() calls, so it also
-- holds the one wrk makes before the run to inspect the script (never sent).

local threads = {}

function setup(thread)
   thread:set("id", #threads)
   table.insert(threads, thread)
end

local first, step, slotBase, slotSeconds, hosts, users
local hostIds, userIds, headers = {}, {}, {}
local k = 0

function init(args)
   local lines = io.lines(os.getenv("BENCH_HTTP_DATA"))
   local h = {}
   for n in lines():gmatch("%S+") do h[#h + 1] = tonumber(n) end
   first, step, slotBase, slotSeconds, hosts, users = h[1], h[2], h[3], h[4], h[5], h[6]
   for j = 0, hosts - 1 do hostIds[j] = lines() end
   for j = 0, users - 1 do
      local user, token = lines():match("(%S+) (%S+)")
      userIds[j] = user
      headers[j] = { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token }
   end
   counts, ids, samples, last, sent = {}, {}, {}, -1, 0
end

local BODY = '{"hostId":"%s","userId":"%s","startTime":"%s","endTime":"%s"}'

function request()
   local i = first + id + k * step
   k = k + 1
   last, sent = i, sent + 1
   local start = slotBase + math.floor(i / hosts) * slotSeconds
   local user = i % users
   local body = string.format(BODY, hostIds[i % hosts], userIds[user],
      os.date("!%Y-%m-%dT%H:%M:%SZ", start), os.date("!%Y-%m-%dT%H:%M:%SZ", start + slotSeconds))
   return wrk.format("POST", "/booking", headers[user], body)
end

function response(status, _, body)
   counts[status] = (counts[status] or 0) + 1
   if status == 201 then
      ids[#ids + 1] = body:match('"bookingId":"([^"]+)"') or ""
   elseif #samples < 5 then
      samples[#samples + 1] = status .. " " .. body
   end
end

local function encode(value)
   local kind = type(value)
   if kind == "table" then
      local parts = {}
      if #value > 0 or next(value) == nil then
         for _, v in ipairs(value) do parts[#parts + 1] = encode(v) end
         return "[" .. table.concat(parts, ",") .. "]"
      end
      for key, v in pairs(value) do parts[#parts + 1] = encode(tostring(key)) .. ":" .. encode(v) end
      return "{" .. table.concat(parts, ",") .. "}"
   elseif kind == "string" then
      return '"' .. value:gsub('[%c"\\]', function(c) return string.format("\\u%04x", c:byte()) end) .. '"'
   end
   return tostring(value)
end

function done(summary, latency, _)
   local statuses, bookingIds, bodies, last, sent = {}, {}, {}, -1, 0
   for _, thread in ipairs(threads) do
      for status, n in pairs(thread:get("counts")) do
         statuses[tostring(status)] = (statuses[tostring(status)] or 0) + n
      end
      for _, v in ipairs(thread:get("ids")) do bookingIds[#bookingIds + 1] = v end
      for _, v in ipairs(thread:get("samples")) do bodies[#bodies + 1] = v end
      last = math.max(last, thread:get("last"))
      sent = sent + thread:get("sent")
   end
   local seconds = summary.duration / 1e6
   print("BENCH-JSON " .. encode({
      seconds = seconds,
      requests = summary.requests,
      sent = sent,
      rps = summary.requests / seconds,
      p50_ms = latency:percentile(50) / 1000,
      p90_ms = latency:percentile(90) / 1000,
      p99_ms = latency:percentile(99) / 1000,
      max_ms = latency.max / 1000,
      mean_ms = latency.mean / 1000,
      statuses = statuses,
      errors = summary.errors,
      last_index = last,
      error_samples = bodies,
      booking_ids = bookingIds,
   }))
end
