-- Argo CD action discovery for berth.dev/v1alpha1 MigrationJob: rerun (only for
-- a Failed run berth has reported on for the current spec), and pause or
-- resume (whichever applies). See docs/argocd-flux.md.
local actions = {}

-- berth pauses only for the exact value "true".
local paused = obj.metadata.annotations ~= nil
  and obj.metadata.annotations["berth.dev/paused"] == "true"

-- rerun/action.lua refuses in the same cases.
local status = obj.status
local generation = obj.metadata.generation
local failed = status ~= nil and status.phase == "Failed"
local current = generation == nil
  or (status ~= nil and status.observedGeneration ~= nil and status.observedGeneration >= generation)
actions["rerun"] = {
  ["disabled"] = not (failed and current),
  ["iconClass"] = "fa fa-fw fa-redo"
}

actions["pause"] = {
  ["disabled"] = paused,
  ["iconClass"] = "fa fa-fw fa-pause-circle"
}
actions["resume"] = {
  ["disabled"] = not paused,
  ["iconClass"] = "fa fa-fw fa-play-circle"
}

return actions
