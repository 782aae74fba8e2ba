"""The private runtime every exercise stands on: nothing here imports a public module.

checks        argument checks, one wording ("<name> must be <rule>, got <repr>")
seeding       one generator per request / shard / sensor, derived from the run's seed
gathering     gathers (all at once, or a sliding window) that never orphan a task or leave an
              error unretrieved
helperthread  blocking calls from the loop, in a thread of their own
lifecycle     SIGTERM / Ctrl-C: cancel, clean up, exit; workers that die with the parent
pools         making, warming and closing executors (forkserver, ownedPools)
batching      batch sizes from a measured per-task overhead
coalescing    items sent as they become ready; batched only while the executor is full
dispatch      where work goes: one executor, one task each or in batches
schedule      list scheduling, for the critical-path bounds
machine       usable cores and the GIL
atomicwrite   files written whole or not at all, to the file a path names (mode kept)
stdout        standard output that may be gone: a closed pipe is quiet, a full disk one line
"""
