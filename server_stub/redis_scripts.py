"""The Lua scripts of :class:`~server_stub.redis_store.RedisStore`: every write is one of them.

Each script runs atomically in Redis, so a write's limit check, its change, its
timestamp, its sequence number and its ``PUBLISH`` happen as one step, in one
order that every stub process sees. Key layout (``P`` is the key prefix,
``G`` is ``<len(stream)>:<stream>:<group>``, unambiguous whatever the names hold):

==========================  ======  ===================================================
key                         type    holds
==========================  ======  ===================================================
``P g:G:items``             hash    item id -> the item's compact JSON
``P g:G:order``             zset    item id -> the sequence number of its creation
``P g:G:sizes``             hash    item id -> its JSON's UTF-8 bytes (for the limits)
``P group-bytes``           hash    G -> the group's bytes
``P total-bytes``           string  the bytes of every item
``P groups:<stream>``       zset    non-empty group -> the sequence number of its creation
``P clock``                 string  the last timestamp given (ms)
``P seq``                   string  the last sequence number given
``P changes``               channel every change and custom event, in ``seq`` order
==========================  ======  ===================================================

The timestamp rule: ``max(Redis TIME in ms, P clock)``, stored back into ``P clock``
by the same script. One clock for the whole fleet, never going back, taken in the
step that orders the writes: a frame's timestamp is never older than one written
before it (per item and across items), and a sync is stamped the same way, so
no later change can look older than the sync a client holds. Equal stamps
within one millisecond are allowed, as in one process.

A published message is five lines: ``seq``, ``timestamp``, ``kind`` (``create``,
``update``, ``delete`` or ``event``), the JSON head ``[stream, group, id-or-null]``
and the JSON data (the item, the deleted item or ``null``, or the custom event
``{"type": ..., "data": ...}``). ``seq`` grows by exactly one per message, so a
reader that sees a jump knows it lost messages.
"""

from __future__ import annotations

_PRELUDE = """
local function stamp(clock)
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local last = tonumber(redis.call('GET', clock) or '0')
  if last > now then now = last end
  redis.call('SET', clock, string.format('%d', now))
  return now
end
local function publish(channel, seq_key, ts, kind, head, data)
  local seq = redis.call('INCR', seq_key)
  redis.call('PUBLISH', channel,
    string.format('%d\\n%d\\n', seq, ts) .. kind .. '\\n' .. head .. '\\n' .. data)
  return seq
end
"""

WRITE = (
    _PRELUDE
    + """
-- KEYS: 1 items, 2 order, 3 sizes, 4 group-bytes, 5 total-bytes, 6 clock, 7 seq, 8 groups
-- ARGV: 1 id, 2 json, 3 size, 4 max items, 5 max group bytes, 6 max store bytes,
--       7 group field, 8 group, 9 head, 10 channel, 11 mode (any|absent|equals), 12 expected
local old = redis.call('HGET', KEYS[1], ARGV[1])
local mode = ARGV[11]
if mode == 'absent' and old then return {'conflict'} end
if mode == 'equals' and old ~= ARGV[12] then return {'conflict'} end
local size = tonumber(ARGV[3])
local old_size = tonumber(redis.call('HGET', KEYS[3], ARGV[1]) or '0')
if (not old) or size > old_size then
  local count = redis.call('HLEN', KEYS[1])
  if not old then count = count + 1 end
  if count > tonumber(ARGV[4]) then return {'full', 'items'} end
  local group_bytes = tonumber(redis.call('HGET', KEYS[4], ARGV[7]) or '0')
  if group_bytes - old_size + size > tonumber(ARGV[5]) then return {'full', 'group'} end
  local total = tonumber(redis.call('GET', KEYS[5]) or '0')
  if total - old_size + size > tonumber(ARGV[6]) then return {'full', 'store'} end
end
local ts = stamp(KEYS[6])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[3], ARGV[1], ARGV[3])
if size ~= old_size then
  redis.call('HINCRBY', KEYS[4], ARGV[7], size - old_size)
  redis.call('INCRBY', KEYS[5], size - old_size)
end
local kind = 'update'
if not old then kind = 'create' end
local seq = publish(ARGV[10], KEYS[7], ts, kind, ARGV[9], ARGV[2])
if not old then
  redis.call('ZADD', KEYS[2], seq, ARGV[1])
  redis.call('ZADD', KEYS[8], 'NX', seq, ARGV[8])
end
return {kind, ts, old or ''}
"""
)

DELETE = (
    _PRELUDE
    + """
-- KEYS: 1 items, 2 order, 3 sizes, 4 group-bytes, 5 total-bytes, 6 clock, 7 seq, 8 groups
-- ARGV: 1 id, 2 group field, 3 group, 4 head, 5 channel, 6 mode (any|equals), 7 expected
local old = redis.call('HGET', KEYS[1], ARGV[1])
if ARGV[6] == 'equals' and old ~= ARGV[7] then return {'conflict'} end
if old then
  local old_size = tonumber(redis.call('HGET', KEYS[3], ARGV[1]) or '0')
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('HDEL', KEYS[3], ARGV[1])
  redis.call('ZREM', KEYS[2], ARGV[1])
  if redis.call('HLEN', KEYS[1]) == 0 then
    redis.call('HDEL', KEYS[4], ARGV[2])
    redis.call('ZREM', KEYS[8], ARGV[3])
  else
    redis.call('HINCRBY', KEYS[4], ARGV[2], -old_size)
  end
  redis.call('INCRBY', KEYS[5], -old_size)
end
local ts = stamp(KEYS[6])
publish(ARGV[5], KEYS[7], ts, 'delete', ARGV[4], old or 'null')
return {'ok', ts, old or ''}
"""
)

EVENT = (
    _PRELUDE
    + """
-- KEYS: 1 clock, 2 seq.  ARGV: 1 head, 2 event json, 3 channel
local ts = stamp(KEYS[1])
publish(ARGV[3], KEYS[2], ts, 'event', ARGV[1], ARGV[2])
return ts
"""
)

SNAPSHOT = (
    _PRELUDE
    + """
-- KEYS: 1 items, 2 order, 3 clock, 4 seq.  ARGV: 1 item id ('' for the whole group)
-- Returns the last sequence number (every change up to it is in the snapshot), the
-- sync's timestamp, then the item's JSON ('' when missing) or the ids in creation
-- order and the hash's field/value pairs.
local ts = stamp(KEYS[3])
local seq = tonumber(redis.call('GET', KEYS[4]) or '0')
if ARGV[1] ~= '' then
  return {seq, ts, redis.call('HGET', KEYS[1], ARGV[1]) or ''}
end
return {seq, ts, redis.call('ZRANGE', KEYS[2], 0, -1), redis.call('HGETALL', KEYS[1])}
"""
)
