-- POST an item to the FastAPI full-stack template (bench/three_way.py):
--   wrk -s create_item.lua URL -- <access token> <first number>
local common = dofile("common.lua")

local counter = 0
local first = 0

function init(args)
  first = common.post_init(args)
end

function request()
  counter = counter + 1
  local body = string.format(
    '{"title": "Load test volume %d", "description": "Notes on the Analytical Engine."}',
    first + counter
  )
  return wrk.format(nil, nil, nil, body)
end

done = common.report
