-- Builds the scripting environment of one Lua VM, as Redis 7.0's scriptingInit does, from the
-- native functions in `raw` (engine.rs). Loaded once per VM under the chunk name "=redis";
-- the error handler skips frames of this chunk, so errors point at the user's line.
-- Returns the function that runs a compiled script under the error handler.
local raw, version, version_num = ...
local G = _G
local dbg = G.debug
local raw_pcall, raw_xpcall, raw_error, raw_type = G.pcall, G.xpcall, G.error, G.type
local raw_setmetatable, raw_getmetatable, raw_rawset, raw_next = G.setmetatable, G.getmetatable, G.rawset, G.next
local raw_select, raw_tostring, raw_tonumber, raw_rawget = G.select, G.tostring, G.tonumber, G.rawget
local raw_loadstring, raw_load, floor = G.loadstring, G.load, G.math.floor

G.debug = nil
G.loadfile = nil
G.dofile = nil
G.print = nil

-- The redis.* functions that can fail are native (engine.rs): an error they raise reaches Lua
-- as a marker that raw.take_error turns back into its {err="ERR ..."} table, and being C
-- functions, they keep the caller's frame even in `return redis.call(...)`.
local redis = {}
redis.call = raw.call
redis.pcall = raw.pcall
redis.sha1hex = raw.sha1hex
redis.error_reply = function(...)
  local e = ...
  if raw_select('#', ...) ~= 1 or raw_type(e) ~= 'string' then
    return {err = 'ERR wrong number or type of arguments'}
  end
  if e:sub(1, 1) ~= '-' then e = '-' .. e end
  return {err = raw.error_text(e)}
end
redis.status_reply = function(...)
  local s = ...
  if raw_select('#', ...) ~= 1 or raw_type(s) ~= 'string' then
    return {err = 'ERR wrong number or type of arguments'}
  end
  return {ok = s}
end
redis.log = raw.log
redis.LOG_DEBUG, redis.LOG_VERBOSE, redis.LOG_NOTICE, redis.LOG_WARNING = 0, 1, 2, 3
redis.setresp = raw.setresp
redis.set_repl = raw.set_repl
redis.REPL_NONE, redis.REPL_AOF, redis.REPL_SLAVE, redis.REPL_REPLICA, redis.REPL_ALL = 0, 1, 2, 2, 3
redis.replicate_commands = function() return true end
redis.breakpoint = function() return false end
redis.debug = function() end
redis.acl_check_cmd = raw.acl_check_cmd
redis.REDIS_VERSION = version
redis.REDIS_VERSION_NUM = version_num
G.redis = redis

-- math.random / math.randomseed on Redis's own generator (redisLrand48), so a seed gives the
-- same sequence as Redis everywhere.
local function int_arg(v, n, fname)
  local x = raw_tonumber(v)
  if x == nil then
    local got = v == nil and 'no value' or raw_type(v)
    raw_error("bad argument #" .. n .. " to '" .. fname .. "' (number expected, got " .. got .. ")", 3)
  end
  if x >= 0 then return floor(x) end
  return -floor(-x)
end
G.math.random = function(...)
  local n = raw_select('#', ...)
  local r = raw.rand()
  if n == 0 then return r end
  local a, b = ...
  if n == 1 then
    local u = int_arg(a, 1, 'random')
    if u < 1 then raw_error("bad argument #1 to 'random' (interval is empty)", 2) end
    return floor(r * u) + 1
  elseif n == 2 then
    local l = int_arg(a, 1, 'random')
    local u = int_arg(b, 2, 'random')
    if l > u then raw_error("bad argument #2 to 'random' (interval is empty)", 2) end
    return floor(r * (u - l + 1)) + l
  end
  raw_error('wrong number of arguments', 2)
end
G.math.randomseed = function(s)
  raw.srand(int_arg(s, 1, 'randomseed'))
end

-- pcall returns an error table's text (Redis 7 keeps pcall's result a string); a killed script
-- cannot be caught.
local take_error = raw.take_error
local function pcall_result(ok, ...)
  if ok then return true, ... end
  local e = take_error((...))
  if raw.killed() then raw_error(e, 0) end
  if raw_type(e) == 'table' then
    local m = e.err
    if raw_type(m) == 'string' or raw_type(m) == 'number' then e = m end
  end
  return false, e
end
G.pcall = function(f, ...)
  return pcall_result(raw_pcall(f, ...))
end
local function xpcall_result(ok, ...)
  if not ok and raw.killed() then raw_error((...), 0) end
  return ok, ...
end
G.xpcall = function(f, h)
  return xpcall_result(raw_xpcall(f, function(e) return h(take_error(e)) end))
end

-- No binary chunks (they could crash the VM).
local function is_binary(s)
  return raw_type(s) == 'string' and s:byte(1) == 27
end
G.loadstring = function(s, name)
  if is_binary(s) then return nil, 'binary chunks are not allowed' end
  return raw_loadstring(s, name)
end
G.load = function(f, name)
  local first = true
  return raw_load(function()
    local piece = f()
    if first then
      first = false
      if is_binary(piece) then raw_error('binary chunks are not allowed') end
    end
    return piece
  end, name)
end

-- Read-only tables. Every table reachable from the globals is replaced by an empty proxy whose
-- metatable reads through to it and refuses writes; the globals themselves refuse unknown names.
local real_of = raw_setmetatable({}, {__mode = 'k'})
local function readonly()
  raw_error('Attempt to modify a readonly table', 2)
end
-- What getmetatable() shows for any protected table: itself read-only.
local locked = {}
raw_setmetatable(locked, {__newindex = readonly, __metatable = locked})
real_of[locked] = {}
local function protect(t, seen)
  if seen[t] then return seen[t] end
  local p = {}
  seen[t] = p
  for k, v in raw_next, t do
    if raw_type(v) == 'table' and v ~= G then raw_rawset(t, k, protect(v, seen)) end
  end
  raw_setmetatable(p, {__index = t, __newindex = readonly, __metatable = locked})
  real_of[p] = t
  return p
end
local seen = {}
for k, v in raw_next, G do
  if raw_type(v) == 'table' and v ~= G then raw_rawset(G, k, protect(v, seen)) end
end
local strings_mt = raw_getmetatable('')
strings_mt.__index = G.string
strings_mt.__metatable = locked

raw_setmetatable(G, {
  __index = function(_, name)
    raw_error("Script attempted to access nonexistent global variable '" .. raw_tostring(name) .. "'", 2)
  end,
})
local env = {}
raw_setmetatable(env, {__index = G, __newindex = readonly, __metatable = locked})
real_of[env] = G
raw_rawset(G, '_G', env)

-- (No position in these two messages: Redis raises them from C functions.)
G.setmetatable = function(t, mt)
  if real_of[t] then raw_error('Attempt to modify a readonly table', 0) end
  return raw_setmetatable(t, mt)
end
G.rawset = function(t, k, v)
  if real_of[t] then raw_error('Attempt to modify a readonly table', 0) end
  return raw_rawset(t, k, v)
end
G.rawget = function(t, k)
  return raw_rawget(real_of[t] or t, k)
end
G.next = function(t, k)
  return raw_next(real_of[t] or t, k)
end
local next = G.next
G.pairs = function(t)
  if raw_type(t) ~= 'table' then raw_error("bad argument #1 to 'pairs' (table expected, got " .. raw_type(t) .. ')', 2) end
  return next, t, nil
end
local function inext(t, i)
  i = i + 1
  local v = t[i]
  if v ~= nil then return i, v end
end
G.ipairs = function(t)
  if raw_type(t) ~= 'table' then raw_error("bad argument #1 to 'ipairs' (table expected, got " .. raw_type(t) .. ')', 2) end
  return inext, t, 0
end

-- Errors leaving a script become {err=, source=, line=}: the line is the user's, past C
-- functions and this chunk's wrappers (Redis's __redis__err__handler).
local function handler(err)
  err = take_error(err)
  local level = 2
  local info = dbg.getinfo(level, 'nSl')
  if info and info.what == 'C' then
    level = level + 1
    info = dbg.getinfo(level, 'nSl')
  end
  while info and info.source == '=redis' do
    level = level + 1
    info = dbg.getinfo(level, 'nSl')
  end
  if raw_type(err) ~= 'table' then
    err = {err = 'ERR ' .. raw_tostring(err)}
  end
  if info then
    raw_rawset(err, 'source', info.source)
    raw_rawset(err, 'line', info.currentline)
  end
  return err
end

-- Functions (FUNCTION LOAD). A library's code runs in `fenv`, whose globals are only the load
-- API (Redis's LIBRARY_API: redis.register_function, redis.log, the versions) while the library
-- loads, and the scripts' globals when its functions run: the closures it registers keep `fenv`
-- and see the right set each time. Both sets refuse unknown names and writes.
local load_redis_real = {
  register_function = raw.register_function,
  log = raw.log,
  LOG_DEBUG = 0, LOG_VERBOSE = 1, LOG_NOTICE = 2, LOG_WARNING = 3,
  REDIS_VERSION = version, REDIS_VERSION_NUM = version_num,
}
local load_redis = raw_setmetatable({}, {
  __index = function(_, name)
    local v = load_redis_real[name]
    if v == nil then
      raw_error("Script attempted to access nonexistent global variable '" .. raw_tostring(name) .. "'", 2)
    end
    return v
  end,
  __newindex = readonly,
  __metatable = locked,
})
real_of[load_redis] = load_redis_real
local function load_index(_, name)
  if name == 'redis' then return load_redis end
  raw_error("Script attempted to access nonexistent global variable '" .. raw_tostring(name) .. "'", 2)
end
local fmeta = {__index = G, __newindex = readonly, __metatable = locked}
local fenv = raw_setmetatable({}, fmeta)
real_of[fenv] = G
local functions = {
  env = fenv,
  loading = function(on)
    if on then fmeta.__index = load_index else fmeta.__index = G end
  end,
  -- Runs a registered function with its KEYS and ARGV tables under the error handler.
  run = function(f, keys, args)
    return raw_xpcall(function() return f(keys, args) end, handler)
  end,
}

-- The globals scripts see, the runner, and the functions' environment.
-- The script runner frees KEYS and ARGV (set by engine.rs before each run) once it is done.
return env, function(f)
  local ok, result = raw_xpcall(f, handler)
  raw_rawset(G, 'KEYS', nil)
  raw_rawset(G, 'ARGV', nil)
  return ok, result
end, functions
