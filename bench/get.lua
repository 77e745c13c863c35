-- GET with a bearer token: wrk -s get.lua URL -- <access token>
local common = dofile("common.lua")

function init(args)
  wrk.headers["Authorization"] = "Bearer " .. args[1]
  wrk.headers["Accept"] = "application/json"
end

done = common.report
