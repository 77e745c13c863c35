-- POST a valid book with an ISBN-13 no earlier request used:
--   wrk -s create_book.lua URL -- <access token> <first number>
-- Each request takes the next number after <first number> (plus a block per wrk thread) and
-- turns it into 978-<nine digits>-<check digit>, so the owner's unique ISBN rule always holds.
local common = dofile("common.lua")

local thread_count = 0
function setup(thread)
  thread:set("thread_index", thread_count)
  thread_count = thread_count + 1
end

local counter = 0
local first = 0

function init(args)
  first = common.post_init(args, thread_index)
end

local function isbn13(number)
  local digits = string.format("978%09d", number)
  local sum = 0
  for i = 1, 12 do
    local weight = (i % 2 == 0) and 3 or 1
    sum = sum + tonumber(digits:sub(i, i)) * weight
  end
  return string.format("%s-%s-%d", digits:sub(1, 3), digits:sub(4, 12), (10 - sum % 10) % 10)
end

function request()
  counter = counter + 1
  local body = string.format(
    '{"title": "Load test volume %d", "author": "Ada Lovelace", "isbn": "%s", '
      .. '"published_year": 1843, "description": "Notes on the Analytical Engine."}',
    counter, isbn13(first + counter)
  )
  return wrk.format(nil, nil, nil, body)
end

done = common.report
