"""Lua scripts of the Redis store: each state change of a message is one atomic step.

Keys of queue ``q`` (prefix ``P``): ``P:{q}:msg`` (id -> message JSON), ``:att`` (id -> attempts),
``:grp`` (id -> FIFO group), ``:ready`` (list of ids), ``:delayed`` (zset, score = due time ms),
``:inflight`` (zset, score = visibility deadline ms), ``:locks`` (group -> id holding it),
``:dead`` (id -> dead-letter meta JSON), ``:deadmsg`` (id -> message JSON), ``:deadidx`` (zset by
failure time). A message id left in ``:ready`` after its message was deleted is skipped. Retries and expired
reservations go to the head of ``:ready``; a FIFO group is held by its message until it is
acknowledged or dead-lettered.
"""

KEYS_ORDER = ("msg", "att", "grp", "ready", "delayed", "inflight", "locks", "dead", "deadmsg", "deadidx")

_PRELUDE = """
local K_MSG, K_ATT, K_GRP, K_READY, K_DELAYED, K_INFLIGHT, K_LOCKS, K_DEAD, K_DEADMSG, K_DEADIDX =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9], KEYS[10]
local function is_current(id, attempt)
  return redis.call('ZSCORE', K_INFLIGHT, id) and redis.call('HGET', K_ATT, id) == attempt
end
local function release(id)
  local group = redis.call('HGET', K_GRP, id) or ''
  if redis.call('HGET', K_LOCKS, group) == id then redis.call('HDEL', K_LOCKS, group) end
end
local function forget(id)
  redis.call('HDEL', K_MSG, id)
  redis.call('HDEL', K_ATT, id)
  redis.call('HDEL', K_GRP, id)
  redis.call('ZREM', K_INFLIGHT, id)
end
"""

PUSH = (
    _PRELUDE
    + """
-- KEYS[11]: the set of queue names; ARGV: id, message JSON, group ('' = none), queue name
redis.call('SADD', KEYS[11], ARGV[4])
redis.call('HSET', K_MSG, ARGV[1], ARGV[2])
redis.call('HSET', K_ATT, ARGV[1], 0)
if ARGV[3] ~= '' then redis.call('HSET', K_GRP, ARGV[1], ARGV[3]) end
redis.call('RPUSH', K_READY, ARGV[1])
return 1
"""
)

RESERVE = (
    _PRELUDE
    + """
-- ARGV: now ms, limit, visibility ms, fifo ('1'/'0'), fifo scan window
local now = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local deadline = now + tonumber(ARGV[3])
for _, id in ipairs(redis.call('ZRANGEBYSCORE', K_DELAYED, '-inf', now, 'LIMIT', 0, 1000)) do
  redis.call('ZREM', K_DELAYED, id)
  redis.call('LPUSH', K_READY, id)
end
for _, id in ipairs(redis.call('ZRANGEBYSCORE', K_INFLIGHT, '-inf', now, 'LIMIT', 0, 1000)) do
  redis.call('ZREM', K_INFLIGHT, id)
  redis.call('LPUSH', K_READY, id)
end
local out = {}
local function take(id)
  local body = redis.call('HGET', K_MSG, id)
  if not body then return end
  local attempts = redis.call('HINCRBY', K_ATT, id, 1)
  redis.call('ZADD', K_INFLIGHT, deadline, id)
  out[#out + 1] = body
  out[#out + 1] = attempts
end
if ARGV[4] == '0' then
  while #out < 2 * limit do
    local id = redis.call('LPOP', K_READY)
    if not id then break end
    take(id)
  end
  return out
end
local seen = {}
local chosen = {}
for _, id in ipairs(redis.call('LRANGE', K_READY, 0, tonumber(ARGV[5]) - 1)) do
  if #chosen >= limit then break end
  if redis.call('HEXISTS', K_MSG, id) == 1 then
    local group = redis.call('HGET', K_GRP, id) or ''
    local holder = redis.call('HGET', K_LOCKS, group)
    if not seen[group] and ((not holder) or holder == id) then
      seen[group] = true
      redis.call('HSET', K_LOCKS, group, id)
      chosen[#chosen + 1] = id
    end
  end
end
for _, id in ipairs(chosen) do
  redis.call('LREM', K_READY, 1, id)
  take(id)
end
return out
"""
)

ACK = (
    _PRELUDE
    + """
-- ARGV: id, attempt
if not is_current(ARGV[1], ARGV[2]) then return 0 end
release(ARGV[1])
forget(ARGV[1])
return 1
"""
)

RETRY = (
    _PRELUDE
    + """
-- ARGV: id, attempt, due time ms
if not is_current(ARGV[1], ARGV[2]) then return 0 end
redis.call('ZREM', K_INFLIGHT, ARGV[1])
redis.call('ZADD', K_DELAYED, tonumber(ARGV[3]), ARGV[1])
return 1
"""
)

BURY = (
    _PRELUDE
    + """
-- ARGV: id, attempt, dead-letter meta JSON, failed_at ms
if not is_current(ARGV[1], ARGV[2]) then return 0 end
redis.call('HSET', K_DEADMSG, ARGV[1], redis.call('HGET', K_MSG, ARGV[1]))
redis.call('HSET', K_DEAD, ARGV[1], ARGV[3])
redis.call('ZADD', K_DEADIDX, tonumber(ARGV[4]), ARGV[1])
release(ARGV[1])
forget(ARGV[1])
return 1
"""
)

REDRIVE = (
    _PRELUDE
    + """
-- ARGV: ids (none = all); each dead letter goes back to the tail of the queue with 0 attempts
local ids = ARGV
if #ids == 0 then ids = redis.call('ZRANGE', K_DEADIDX, 0, -1) end
local count = 0
for _, id in ipairs(ids) do
  local body = redis.call('HGET', K_DEADMSG, id)
  if body then
    local meta = cjson.decode(redis.call('HGET', K_DEAD, id))
    redis.call('HSET', K_MSG, id, body)
    redis.call('HSET', K_ATT, id, 0)
    if meta.group and meta.group ~= cjson.null then redis.call('HSET', K_GRP, id, meta.group) end
    redis.call('RPUSH', K_READY, id)
    redis.call('HDEL', K_DEADMSG, id)
    redis.call('HDEL', K_DEAD, id)
    redis.call('ZREM', K_DEADIDX, id)
    count = count + 1
  end
end
return count
"""
)

PURGE = (
    _PRELUDE
    + """
-- ARGV: ids (none = all)
local ids = ARGV
if #ids == 0 then ids = redis.call('ZRANGE', K_DEADIDX, 0, -1) end
local count = 0
for _, id in ipairs(ids) do
  if redis.call('HDEL', K_DEAD, id) == 1 then
    redis.call('HDEL', K_DEADMSG, id)
    redis.call('ZREM', K_DEADIDX, id)
    count = count + 1
  end
end
return count
"""
)

STATS = (
    _PRELUDE
    + """
-- returns live messages, delayed, in flight, dead
return {redis.call('HLEN', K_MSG), redis.call('ZCARD', K_DELAYED), redis.call('ZCARD', K_INFLIGHT),
        redis.call('ZCARD', K_DEADIDX)}
"""
)
