-- Loaded in front of the scripts that write many members at once (LuaResources.Each): one command (name, key,
-- options, then the values) for a list of values, in lots of 1,000 (an even number, so score, member pairs stay
-- whole; Lua's unpack takes a few thousand values at most). Nothing is sent for an empty list.
local function each(values, ...)
  local head = { ... }
  for first = 1, #values, 1000 do
    local args = { unpack(head) }
    for n = first, math.min(first + 999, #values) do
      args[#args + 1] = values[n]
    end
    redis.call(unpack(args))
  end
end
