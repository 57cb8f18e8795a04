-- Petrel's script sandbox: Redis 7.0's environment rebuilt on stock Lua 5.1.
--
-- Run once per Lua state, with the unrestricted globals, as chunk
-- "=petrel_sandbox". Redis patches its Lua with read-only tables; stock Lua
-- has none, so every table reachable from the globals is replaced by an empty
-- proxy whose metatable reads through to the real table and refuses writes,
-- and the base functions that bypass metatables (rawset, rawget, next, pairs,
-- ipairs, setmetatable, getmetatable, table.*) learn to see
-- through proxies and to refuse writing into them. Every value this chunk
-- keeps is a local upvalue, so a script can reach none of the real tables.
--
-- `native` holds the functions written in Rust; `ctx` is the per-run table
-- the engine fills (`dispatch`, set only while a script runs).

local native, ctx = ...

local G = _G
local error, type, tostring, select, next = error, type, tostring, select, next
local rawget, rawset, rawequal = rawget, rawset, rawequal
local setmetatable, getmetatable = setmetatable, getmetatable
local pcall, xpcall, unpack = pcall, xpcall, unpack
local getfenv, setfenv, loadstring, load = getfenv, setfenv, loadstring, load
local tinsert, tremove, tsort, tconcat, tgetn, tmaxn, tsetn =
  table.insert, table.remove, table.sort, table.concat, table.getn, table.maxn, table.setn
local co_resume = coroutine.resume
local sgsub, sfind, ssub = string.gsub, string.find, string.sub
local where = native.where -- (level) -> what, source, currentline, as debug.getinfo
local killed = native.killed

local visible = G -- where the globals read through (the library API during FUNCTION LOAD)
local library_api
local RO = "Attempt to modify a readonly table"
local INTERNAL = "=petrel_sandbox"

local target_of = {} -- proxy -> real table
local proxy_of = {}  -- real table -> proxy
local shown_meta = {} -- proxy -> what getmetatable returns for it

local function unwrap(t)
  return target_of[t] or t
end

local function ro_newindex()
  error(RO, 2)
end

local function protect(t, index)
  local p = proxy_of[t]
  if p then return p end
  p = {}
  proxy_of[t] = p
  target_of[p] = t
  local k, v = next(t)
  while k ~= nil do
    if type(v) == "table" and not target_of[v] then rawset(t, k, protect(v)) end
    k, v = next(t, k)
  end
  setmetatable(p, { __index = index or t, __newindex = ro_newindex, __metatable = false })
  return p
end

-- Redis's error tables: "-CODE msg" or "msg" becomes {err="CODE msg"}.
local function error_table(s)
  local code, msg = "ERR", s
  if ssub(s, 1, 1) == "-" then
    local sp = sfind(s, " ", 1, true)
    if sp then
      code, msg = ssub(s, 2, sp - 1), ssub(s, sp + 1)
    else
      msg = ssub(s, 2)
    end
  end
  msg = sgsub(sgsub(msg, "^[\r\n]+", ""), "[\r\n]+$", "")
  return { err = code .. " " .. msg }
end
native.error_table = error_table

-- The error handler (Redis's __redis__err__handler): where the error was
-- raised, in the user's code. Our own wrappers stand where Redis has C
-- functions, so they are skipped.
local function frame(level)
  local what, source, line = where(level)
  while what and source == INTERNAL do
    level = level + 1
    what, source, line = where(level)
  end
  if not what then return nil, level end
  return { what = what, source = source, currentline = line }, level
end

local function handler(err)
  local i, level = frame(3)
  if i and i.what == "C" then i = frame(level + 1) end
  if killed() then
    err = { err = killed() }
  elseif type(err) ~= "table" then
    err = { err = "ERR " .. tostring(err) }
  end
  if i then
    err.source = i.source
    err.line = i.currentline
  end
  return err
end

-- A kill must not be caught: whatever catches an error re-raises it then.
local function rethrow_if_killed(ok, ...)
  if not ok and killed() then error({ err = killed() }, 0) end
  return ok, ...
end

-- Redis's global pcall hands back the message of an error table.
local function pcall_result(ok, ...)
  if ok then return true, ... end
  local e = ...
  if type(e) == "table" then
    local m = e.err
    if type(m) == "string" or type(m) == "number" then e = m end
  end
  return false, e
end

local function redis_pcall(f, ...)
  return pcall_result(rethrow_if_killed(pcall(f, ...)))
end

local function redis_xpcall(f, h)
  return rethrow_if_killed(xpcall(f, h))
end

local function resume(c, ...)
  return rethrow_if_killed(co_resume(c, ...))
end

-- Loading text only: Redis's parser never reads bytecode, so a binary chunk
-- fails as text does ("unexpected symbol near 'char(27)'").
local function binary_error(name)
  local _, msg = loadstring("\1", name)
  return (sgsub(msg, "char%(1%)", "char(27)"))
end

local function safe_loadstring(s, name)
  if type(s) == "string" and ssub(s, 1, 1) == "\27" then
    local cut = sfind(s, "\0", 1, true)
    return nil, binary_error(name or (cut and ssub(s, 1, cut - 1)) or s)
  end
  local f, e = loadstring(s, name)
  if f then setfenv(f, proxy_of[G]) end
  return f, e
end

local function safe_load(reader, name)
  if type(reader) ~= "function" then return load(reader, name) end
  local parts, n = {}, 0
  while true do
    local piece = reader()
    if piece == nil or piece == "" then break end
    if type(piece) ~= "string" then return nil, "reader function must return a string" end
    n = n + 1
    parts[n] = piece
  end
  return safe_loadstring(tconcat(parts), name or "=(load)")
end

local function safe_next(t, k)
  return next(unwrap(t), k)
end

local function safe_pairs(t)
  if target_of[t] then return safe_next, t, nil end
  return next, t, nil
end

local function ipairs_step(t, i)
  i = i + 1
  local v = rawget(unwrap(t), i)
  if v ~= nil then return i, v end
end

local function safe_ipairs(t)
  if type(t) ~= "table" then
    error("bad argument #1 to 'ipairs' (table expected, got " .. (t == nil and "no value" or type(t)) .. ")", 2)
  end
  return ipairs_step, t, 0
end

local function safe_rawget(t, k)
  return rawget(unwrap(t), k)
end

local C = native.c -- wraps an inner function answering ok, ... in a C closure

local safe_rawset = C(function(t, k, v)
  if target_of[t] then return false, RO end
  return true, rawset(t, k, v)
end)

local safe_setmetatable = C(function(t, m)
  if target_of[t] then return false, RO end
  return true, setmetatable(t, m)
end)

local string_meta
local function safe_getmetatable(v)
  if type(v) == "string" then return string_meta end
  if target_of[v] then return shown_meta[v] end
  return getmetatable(v)
end

local function guarded(fn)
  return C(function(t, ...)
    if target_of[t] then return false, RO end
    return true, fn(t, ...)
  end)
end

local function reading(fn)
  return function(t, ...)
    return fn(unwrap(t), ...)
  end
end

-- The base library, as Redis leaves it.
G.print, G.dofile, G.loadfile, G.module, G.require, G.package = nil, nil, nil, nil, nil, nil
G.io, G.os, G.debug = nil, nil, nil
G.pcall, G.xpcall = redis_pcall, redis_xpcall
G.loadstring, G.load = safe_loadstring, safe_load
G.next, G.pairs, G.ipairs = safe_next, safe_pairs, safe_ipairs
G.rawget, G.rawset = safe_rawget, safe_rawset
G.setmetatable, G.getmetatable = safe_setmetatable, safe_getmetatable
-- Redis 7.0.15's base library has no getfenv, setfenv or newproxy.
G.getfenv, G.setfenv, G.newproxy = nil, nil, nil
G.unpack = reading(unpack)
table.insert, table.remove, table.sort, table.setn =
  guarded(tinsert), guarded(tremove), guarded(tsort), guarded(tsetn)
table.concat, table.getn, table.maxn, table.foreach, table.foreachi =
  reading(tconcat), reading(tgetn), reading(tmaxn), reading(table.foreach), reading(table.foreachi)
coroutine.resume = resume
math.random, math.randomseed = native.random, native.randomseed
G.cjson, G.cmsgpack, G.bit, G.struct = native.cjson, native.cmsgpack, native.bit, native.struct

-- redis.*: host calls go through ctx.dispatch(op, ...), which answers
-- (true, value) or (false, error table).
local OP_CALL, OP_PCALL, OP_SETRESP, OP_SET_REPL, OP_ACL, OP_LOG, OP_REGISTER = 1, 2, 3, 4, 5, 6, 7

local OUTSIDE = {
  [OP_CALL] = "redis.call/pcall can only be called inside a script invocation",
  [OP_PCALL] = "redis.call/pcall can only be called inside a script invocation",
  [OP_SETRESP] = "redis.setresp can only be called inside a script invocation",
  [OP_SET_REPL] = "redis.set_repl can only be called inside a script invocation",
  [OP_ACL] = "redis.acl_check_cmd can only be called inside a script invocation",
  [OP_LOG] = "redis.log can only be called inside a script invocation",
  [OP_REGISTER] = "redis.register_function can only be called on FUNCTION LOAD command",
}

local function gate(op, ...)
  local d = ctx.dispatch
  if not d then return false, error_table(OUTSIDE[op]) end
  return d(op, ...)
end

local function host_fn(op)
  return C(function(...) return gate(op, ...) end)
end

local redis = {}
redis.call = host_fn(OP_CALL)
redis.pcall = host_fn(OP_PCALL)
redis.setresp = host_fn(OP_SETRESP)
redis.set_repl = host_fn(OP_SET_REPL)
redis.acl_check_cmd = host_fn(OP_ACL)
local log = host_fn(OP_LOG)
redis.log = log
redis.sha1hex = C(function(...)
  if select("#", ...) ~= 1 then return false, error_table("wrong number of arguments") end
  return true, native.sha1hex((...))
end)
redis.error_reply = function(...)
  local e = ...
  if select("#", ...) ~= 1 or type(e) ~= "string" then
    return error_table("wrong number or type of arguments")
  end
  if ssub(e, 1, 1) ~= "-" then e = "-" .. e end
  return error_table(e)
end
redis.status_reply = function(...)
  local s = ...
  if select("#", ...) ~= 1 or type(s) ~= "string" then
    return error_table("wrong number or type of arguments")
  end
  return { ok = s }
end
redis.replicate_commands = function() return true end
redis.breakpoint = function() return false end
redis.debug = function() end
redis.LOG_DEBUG, redis.LOG_VERBOSE, redis.LOG_NOTICE, redis.LOG_WARNING = 0, 1, 2, 3
redis.REPL_NONE, redis.REPL_AOF, redis.REPL_SLAVE, redis.REPL_REPLICA, redis.REPL_ALL = 0, 1, 2, 2, 3
redis.REDIS_VERSION, redis.REDIS_VERSION_NUM = native.version, native.version_num
G.redis = redis
G.server = redis
G.__redis__err__handler = handler

if native.functions then
  -- Redis's function engine has no debugger, no script replication switch
  -- and keeps its error handler out of the globals.
  redis.replicate_commands, redis.breakpoint, redis.debug = nil, nil, nil
  G.__redis__err__handler = nil
end

-- Globals are locked: reading an undefined one is an error, writing any is.
local function missing_global(_, k)
  local v = rawget(visible, k)
  if v == nil then
    if type(k) ~= "string" and type(k) ~= "number" then
      error("Second argument to luaProtectedTableError must be a string or number", 2)
    end
    error("Script attempted to access nonexistent global variable '" .. k .. "'", 2)
  end
  return v
end

local globals = protect(G, missing_global)
shown_meta[globals] = protect({ __index = missing_global, __newindex = ro_newindex })
string_meta = protect(getmetatable(""))

-- FUNCTION LOAD runs a library's body with only this in its globals.
local library_redis_real = {
  register_function = host_fn(OP_REGISTER),
  log = log,
  LOG_DEBUG = 0, LOG_VERBOSE = 1, LOG_NOTICE = 2, LOG_WARNING = 3,
  REDIS_VERSION = native.version, REDIS_VERSION_NUM = native.version_num,
}
local library_redis = protect(library_redis_real, function(_, k)
  local v = rawget(library_redis_real, k)
  if v == nil then
    error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
  end
  return v
end)
library_api = { redis = library_redis, server = library_redis }

local function set_loading(on)
  visible = on and library_api or G
end

-- Sets a script's KEYS and ARGV (EVAL only), past the lock.
local function set_eval_args(keys, argv)
  rawset(G, "KEYS", keys)
  rawset(G, "ARGV", argv)
end

local function run_eval(f)
  return xpcall(f, handler)
end

local function run_function(f, keys, args)
  return xpcall(function() return f(keys, args) end, handler)
end

local function run_library(f)
  return xpcall(f, handler)
end

return {
  globals = globals,
  set_loading = set_loading,
  set_eval_args = set_eval_args,
  run_eval = run_eval,
  run_function = run_function,
  run_library = run_library,
}
