-- Argo CD action discovery for berth.dev/v1alpha1 EcsService: rollback, refresh,
-- and pause or resume (whichever applies). See docs/argocd-flux.md.
local actions = {}

-- berth pauses only for the exact value "true".
local paused = obj.metadata.annotations ~= nil
  and obj.metadata.annotations["berth.dev/paused"] == "true"

-- berth ignores berth.dev/rollback while paused (no AWS changes), and by the
-- time the pause ends the deployment may be over.
actions["rollback"] = {
  ["disabled"] = paused,
  ["iconClass"] = "fa fa-fw fa-undo"
}
actions["refresh"] = {
  ["iconClass"] = "fa fa-fw fa-sync"
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
