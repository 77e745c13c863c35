-- POST /api/v1/auth/login with one account's credentials: wrk -s login.lua URL -- <email> <password>
local common = dofile("common.lua")

function init(args)
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Accept"] = "application/json"
  wrk.body = string.format('{"email": "%s", "password": "%s"}', args[1], args[2])
end

done = common.report
