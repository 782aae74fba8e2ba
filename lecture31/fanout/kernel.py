"""The compiled engine of the virtual-time lab: ``simulate.py``'s event loop, in numba.

The reference engine drives ``ShardRace`` from a heap in Python, ~40 us a shard request: hours
for 100,000 fan-outs of 100 shards at 189 points. This is the same loop, rules and random
streams (``streams.py``), compiled; tests/fanout/test_kernel.py runs both on the same seeds and
asks for the same trace to the last bit, so a rule changed in ``race.py`` or ``hedgepolicy.py``
fails until it is changed here too. One module on purpose: numba's cache checks only the file
of the function it compiled, and everything here is inlined into ``runKernel``.

Flat arrays (the ``Config`` and ``State`` of ``simulate._compiledRun``)::

    fan-out  i  -> slot i % K      (arrivedAt, pending, live attempts, owner i)
    race     (slot, shard)         (attempts sent, done, replica order)
    attempt  (slot, shard, a)      (state, sentAt, startedAt, in service)
    replica  (shard, r)            (busy slots, a FIFO ring of attempt ids)
    heap     (time, seq, id x 4 + kind)   the events: arrival, hedge timer, service done

An event names its fan-out by number, not slot: one of a reused slot is seen to be stale. A
store too small stops the run with a status; ``simulate._runCompiled`` doubles it and runs
again (a pure function of the seed: the same trace).
"""

import math

import numpy as np
from numba import njit

from .hedgepolicy import DELAY_REFRESH, MIN_DELAY_OBSERVATIONS
from .streams import GOLDEN, MIX1, MIX2

__all__ = ("KIND_CODES", "MAX_SHARDS", "MODE_CODES", "OK", "runKernel")

# Attempt states (race.py's "sent", "started", "done", "cancelled").
SENT, STARTED, DONE, CANCELLED = 0, 1, 2, 3
ARRIVAL, TIMER, FINISHED = 0, 1, 2
MODE_CODES = {"none": 0, "fixed": 1, "budgeted": 2, "tied": 3, "duplicate-all": 4}
NONE, FIXED, BUDGETED, TIED, DUPLICATE_ALL = range(5)
KIND_CODES = {"homework": 0, "hiccup": 1, "correlated": 2, "pareto": 3, "theory": 4}
HOMEWORK, HICCUP, CORRELATED, PARETO, THEORY = range(5)
OK, SLOTS_FULL, QUEUE_FULL, HEAP_FULL = 0, 1, 2, 3

# The float scalars (fs) and integer scalars (ns) of the run, by index.
F_CLOCK, F_BALANCE, F_DELAY, F_TOTAL_WORK, F_USEFUL_WORK, F_MAX_EXCESS = range(6)
N_SEQ, N_HEAP, N_DEPOSITS, N_WITHDRAWN, N_RECORDED = range(5)
N_PRIMARIES, N_EXTRA, N_WINS, N_LATENCIES = range(5, 9)

# Numba counts references to arrays (atomic increments) where it cannot prove them useless: in
# this branchy loop, half the run time. The kernel allocates nothing (stores from the caller,
# the selection in ``scratch``), so it runs without numba's runtime (NRT): nothing to count.
_inlined = njit(cache=True, inline="always", _nrt=False)  # type: ignore[call-overload]
_entry = njit(cache=True, _nrt=False)  # type: ignore[call-overload]

_GOLDEN = np.uint64(GOLDEN)
_MIX1, _MIX2 = np.uint64(MIX1), np.uint64(MIX2)
_UNIT = 2.0**-53


# An attempt's id packs (fan-out number, shard, index): unpacked by shifts (a division: ~40 cycles).
SHARD_BITS = 12
SHARD_MASK = (1 << SHARD_BITS) - 1
INDEX_SHIFT = SHARD_BITS + 2
MAX_SHARDS = 1 << SHARD_BITS


@_inlined
def _attemptId(index, shard, a):
    return (index << INDEX_SHIFT) | (shard << 2) | a


@_inlined
def _unit(keys, counters, stream):
    """Draw number ``counters[stream]`` of ``stream``: streams.toUnit, compiled."""
    n = counters[stream]
    counters[stream] = n + 1
    z = keys[stream] + np.uint64(n + 1) * _GOLDEN
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    z = z ^ (z >> np.uint64(31))
    return float(z >> np.uint64(11)) * _UNIT


@_inlined
def _serviceTime(kind, mf, keys, counters, stream):
    """LatencyModel.draw, compiled; ``mf`` holds the model's constants (see modelConstants)."""
    if kind == HOMEWORK:
        return mf[0] + -math.log(1.0 - _unit(keys, counters, stream)) / mf[1]
    if kind in (HICCUP, CORRELATED):
        base = mf[2] * (0.9 + (1.1 - 0.9) * _unit(keys, counters, stream))
        if kind == HICCUP and _unit(keys, counters, stream) < mf[3]:
            base += mf[4] + (mf[5] - mf[4]) * _unit(keys, counters, stream)
        return base
    if kind == PARETO:
        return mf[6] * (1.0 / (1.0 - _unit(keys, counters, stream)) ** (1.0 / mf[7]))
    return -math.log(1.0 - _unit(keys, counters, stream)) / (1.0 / mf[8])


@_inlined
def _weatherFactor(st, stream, shard, now):
    """ShardWeather.factor for a clock that only moves forward: the current period."""
    mf, wEnd, wSlow = st.mf, st.wEnd, st.wSlow  # wSlow starts True: the first period is normal
    while wEnd[shard] <= now:
        slow = not wSlow[shard]
        mean = mf[10]
        if not slow:
            mean *= (1 - mf[11]) / mf[11]
        wEnd[shard] += -math.log(1.0 - _unit(st.keys, st.counters, stream)) / (1.0 / mean)
        wSlow[shard] = slow
    return mf[9] if wSlow[shard] else 1.0


@_inlined
def _push(st, when, ident):
    """Push (when, seq, ident) onto the heap; False when it is full."""
    hT, hS, hI, ns = st.hT, st.hS, st.hI, st.ns
    size = ns[N_HEAP]
    if size == hT.shape[0]:
        return False
    ns[N_SEQ] += 1
    seq = ns[N_SEQ]
    i = size
    while i > 0:
        parent = (i - 1) >> 1
        pt = hT[parent]
        if pt < when or (pt == when and hS[parent] < seq):
            break
        hT[i], hS[i], hI[i] = pt, hS[parent], hI[parent]
        i = parent
    hT[i], hS[i], hI[i] = when, seq, ident
    ns[N_HEAP] = size + 1
    return True


@_inlined
def _pop(st):
    """Remove the earliest event; return (when, ident)."""
    hT, hS, hI, ns = st.hT, st.hS, st.hI, st.ns
    when, ident = hT[0], hI[0]
    size = ns[N_HEAP] - 1
    ns[N_HEAP] = size
    if size > 0:
        lt, ls, li = hT[size], hS[size], hI[size]
        i = 0
        while True:
            child = 2 * i + 1
            if child >= size:
                break
            other = child + 1
            if other < size and (
                hT[other] < hT[child] or (hT[other] == hT[child] and hS[other] < hS[child])
            ):
                child = other
            ct = hT[child]
            if lt < ct or (lt == ct and ls < hS[child]):
                break
            hT[i], hS[i], hI[i] = ct, hS[child], hI[child]
            i = child
        hT[i], hS[i], hI[i] = lt, ls, li
    return when, ident


@_entry
def _select(values, scratch, length, rank):
    """The ``rank``-th smallest of ``values[:length]`` (quickselect on a copy in ``scratch``)."""
    for i in range(length):
        scratch[i] = values[i]
    low, high = 0, length - 1
    while low < high:
        pivot = scratch[(low + high) >> 1]
        i, j = low, high
        while i <= j:
            while scratch[i] < pivot:
                i += 1
            while scratch[j] > pivot:
                j -= 1
            if i <= j:
                scratch[i], scratch[j] = scratch[j], scratch[i]
                i += 1
                j -= 1
        if rank <= j:
            high = j
        elif rank >= i:
            low = i
        else:
            break
    return scratch[rank]


@_inlined
def _record(cf, st, latency):
    """DelayEstimator.record (a fixed delay records nothing: the caller skips it)."""
    percentile, window, scratch, fs, ns = cf.percentile, st.window, st.scratch, st.fs, st.ns
    # The reference appends until the window is full, then overwrites from its start: the
    # same slot as the count of earlier records modulo the window.
    count, capacity = ns[N_RECORDED], window.shape[0]
    window[count % capacity] = latency
    ns[N_RECORDED] = count = count + 1
    length = min(count, capacity)
    if count % DELAY_REFRESH == 0 or length == MIN_DELAY_OBSERVATIONS:
        # The rank-th smallest: a selection, not a sort (the same value, a tenth of the time).
        rank = max(0, min(length - 1, math.ceil(percentile / 100.0 * length) - 1))
        fs[F_DELAY] = _select(window, scratch, length, rank)


# -- the driver's moves (simulate._Engine), each with the race's rules it triggers ------------


@_inlined
def _start(cf, st, index, shard, a):
    """_Engine._startService, then ShardRace.onStarted (tied: the queued twin is cancelled)."""
    race = (index & cf.slotMask) * cf.S + shard
    rec = race * cf.A + a
    replica = shard * cf.R + st.rOrder[rec]
    seconds = _serviceTime(cf.kind, st.mf, st.keys, st.counters, 1 + cf.S + replica)
    if cf.correlated:
        seconds *= _weatherFactor(st, 1 + cf.S + cf.S * cf.R + shard, shard, st.fs[F_CLOCK])
    st.aStarted[rec] = st.fs[F_CLOCK]
    st.aServing[rec] = True
    if not _push(st, st.fs[F_CLOCK] + seconds, _attemptId(index, shard, a) * 4 + FINISHED):
        return HEAP_FULL
    st.aState[rec] = STARTED
    if cf.mode == TIED and not st.rDone[race]:
        for other in range(st.rSent[race]):
            orec = race * cf.A + other
            if other != a and st.aState[orec] == SENT:
                # ShardRace._cancel of a queued copy: tied records nothing, frees no slot.
                st.aState[orec] = CANCELLED
    return OK


@_inlined
def _send(cf, st, index, shard):
    """ShardRace._send, then the driver's send: a free slot starts it, else the FIFO."""
    slot = index & cf.slotMask
    race = slot * cf.S + shard
    a = st.rSent[race]
    st.rSent[race] = a + 1
    rec = race * cf.A + a
    st.aState[rec] = SENT
    st.aSent[rec] = st.fs[F_CLOCK]
    st.aServing[rec] = False
    st.fLive[slot] += 1
    replica = shard * cf.R + st.rOrder[rec]
    if st.busy[replica] < cf.C:
        st.busy[replica] += 1
        return _start(cf, st, index, shard, a)
    Q = cf.Q
    if st.tail[replica] - st.head[replica] == Q:
        return QUEUE_FULL
    st.ring[replica * Q + (st.tail[replica] & (Q - 1))] = _attemptId(index, shard, a)
    st.tail[replica] += 1
    return OK


@_inlined
def _release(cf, st, replica):
    """Replica.release: the slot passes to the next copy still waiting (cancelled ones are
    skipped where they lie and let go of their fan-out's slot)."""
    Q = cf.Q
    while st.head[replica] < st.tail[replica]:
        ident = st.ring[replica * Q + (st.head[replica] & (Q - 1))]
        st.head[replica] += 1
        index, shard, a = ident >> INDEX_SHIFT, (ident >> 2) & SHARD_MASK, ident & 3
        rec = ((index & cf.slotMask) * cf.S + shard) * cf.A + a
        if st.aState[rec] != CANCELLED:
            return _start(cf, st, index, shard, a)
        st.fLive[index & cf.slotMask] -= 1
    st.busy[replica] -= 1
    return OK


@_inlined
def _cancel(cf, st, index, shard, a):
    """ShardRace._cancel, then the driver's cancel: abort it mid-service if the model can."""
    slot = index & cf.slotMask
    race = slot * cf.S + shard
    rec = race * cf.A + a
    if a == 0 and cf.hedges and cf.learns:
        _record(cf, st, st.fs[F_CLOCK] - st.aSent[rec])  # censored: a lower bound
    st.aState[rec] = CANCELLED
    if not st.aServing[rec] or not cf.abortable:
        return OK  # still queued (skipped when its turn comes), or runs on to the end
    st.aServing[rec] = False
    st.fLive[slot] -= 1
    if index >= cf.warmup:
        st.fs[F_TOTAL_WORK] += st.fs[F_CLOCK] - st.aStarted[rec]
    return _release(cf, st, shard * cf.R + st.rOrder[rec])


@_inlined
def _arrive(cf, st, index):
    """_Engine._arrive: a fan-out, one ShardRace.start per shard."""
    S, A, R = cf.S, cf.A, cf.R
    slot = index & cf.slotMask
    if st.fPending[slot] > 0 or st.fLive[slot] > 0:
        return SLOTS_FULL
    fs, ns = st.fs, st.ns
    clock = fs[F_CLOCK]
    st.fOwner[slot] = index
    st.fArrived[slot] = clock
    st.fPending[slot] = S
    for shard in range(S):
        race = slot * S + shard
        st.rSent[race] = 0
        st.rDone[race] = False
        first = race * A
        stream = 1 + shard
        primary = int(_unit(st.keys, st.counters, stream) * R)
        st.rOrder[first] = primary
        if A > 1:
            if R == 2:
                st.rOrder[first + 1] = 1 - primary
            else:
                second = (primary + 1 + int(_unit(st.keys, st.counters, stream) * (R - 1))) % R
                st.rOrder[first + 1] = second
                k = 2
                for r in range(R):
                    if k < A and r != primary and r != second:
                        st.rOrder[first + k] = r
                        k += 1
        # ShardRace.start: deposit, the primary, then what the mode adds.
        ns[N_DEPOSITS] += 1
        balance = fs[F_BALANCE] + cf.ratio
        fs[F_BALANCE] = balance if balance < cf.burst else cf.burst
        if cf.shardCapped:
            balance = st.shardBalance[shard] + cf.shardRatio
            st.shardBalance[shard] = balance if balance < cf.shardBurst else cf.shardBurst
        status = _send(cf, st, index, shard)
        if status != OK:
            return status
        if cf.mode == DUPLICATE_ALL:
            status = _send(cf, st, index, shard)
        elif cf.mode == TIED:
            if st.aState[first] == SENT and A > 1:
                status = _send(cf, st, index, shard)
        elif cf.hedges and cf.maxAttempts > 1:
            timer = _attemptId(index, shard, 0) * 4 + TIMER
            status = OK if _push(st, clock + fs[F_DELAY], timer) else HEAP_FULL
        if status != OK:
            return status
    if cf.mode == BUDGETED:
        excess = ns[N_WITHDRAWN] - cf.ratio * ns[N_DEPOSITS]
        if excess > fs[F_MAX_EXCESS]:
            fs[F_MAX_EXCESS] = excess
    return OK


@_inlined
def _timer(cf, st, ident):
    """ShardRace.onTimer: a hedge, if the race still needs one and the budget allows."""
    index, shard = ident >> INDEX_SHIFT, (ident >> 2) & SHARD_MASK
    slot = index & cf.slotMask
    race = slot * cf.S + shard
    if st.fOwner[slot] != index or st.rDone[race]:
        return OK
    attemptLimit = min(cf.maxAttempts, cf.A)
    if st.rSent[race] >= attemptLimit:
        return OK
    when = st.fs[F_CLOCK] + st.fs[F_DELAY]
    if cf.mode == BUDGETED:
        # HedgeBudget.tryWithdraw: a token from the pool and one from the shard's bucket.
        if st.fs[F_BALANCE] >= 1.0 and (not cf.shardCapped or st.shardBalance[shard] >= 1.0):
            st.fs[F_BALANCE] -= 1.0
            if cf.shardCapped:
                st.shardBalance[shard] -= 1.0
            st.ns[N_WITHDRAWN] += 1
        else:
            return OK if _push(st, when, ident * 4 + TIMER) else HEAP_FULL
    status = _send(cf, st, index, shard)
    if status != OK:
        return status
    if st.rSent[race] < attemptLimit and not _push(st, when, ident * 4 + TIMER):
        return HEAP_FULL
    return OK


@_inlined
def _finished(cf, st, ident):
    """_Engine._done: a copy's service ended; ShardRace.onDone; the slot passes on."""
    S, A = cf.S, cf.A
    index, shard, a = ident >> INDEX_SHIFT, (ident >> 2) & SHARD_MASK, ident & 3
    slot = index & cf.slotMask
    if st.fOwner[slot] != index:
        return OK  # the fan-out is long gone: a copy aborted before its service ended
    race = slot * S + shard
    rec = race * A + a
    if not st.aServing[rec]:
        return OK  # aborted earlier; this event is stale
    fs, ns = st.fs, st.ns
    clock = fs[F_CLOCK]
    st.aServing[rec] = False
    st.fLive[slot] -= 1
    work = clock - st.aStarted[rec]
    measured = index >= cf.warmup
    if measured:
        fs[F_TOTAL_WORK] += work
    if st.aState[rec] != CANCELLED:
        st.aState[rec] = DONE
        if a == 0 and cf.learns:
            _record(cf, st, clock - st.aSent[rec])
        if not st.rDone[race]:
            st.rDone[race] = True
            if cf.mode != DUPLICATE_ALL:
                for other in range(st.rSent[race]):
                    state = st.aState[race * A + other]
                    if state in (SENT, STARTED):
                        status = _cancel(cf, st, index, shard, other)
                        if status != OK:
                            return status
            # driver.finish(race)
            st.fPending[slot] -= 1
            if measured:
                ns[N_PRIMARIES] += 1
                ns[N_EXTRA] += st.rSent[race] - 1
                if a > 0:
                    ns[N_WINS] += 1
            if st.fPending[slot] == 0 and measured:
                st.latencies[ns[N_LATENCIES]] = clock - st.fArrived[slot]
                ns[N_LATENCIES] += 1
            if measured:
                fs[F_USEFUL_WORK] += work
    return _release(cf, st, shard * cf.R + st.rOrder[rec])


@_entry
def runKernel(cf, st):
    """The event loop (_Engine.run); returns a status: OK, or which store was too small."""
    fs, ns = st.fs, st.ns
    # The first arrival (seq 1 where the reference's is 0: every seq is one higher, in order).
    if not _push(st, -math.log(1.0 - _unit(st.keys, st.counters, 0)) / cf.rate, ARRIVAL):
        return HEAP_FULL
    arrived = 0
    while ns[N_HEAP] > 0:
        clock, ident = _pop(st)
        fs[F_CLOCK] = clock
        what = ident & 3
        ident >>= 2
        if what == FINISHED:
            status = _finished(cf, st, ident)
        elif what == TIMER:
            status = _timer(cf, st, ident)
        else:
            status = _arrive(cf, st, arrived)
            arrived += 1
            if status == OK and arrived < cf.warmup + cf.measured:
                gap = -math.log(1.0 - _unit(st.keys, st.counters, 0)) / cf.rate
                if not _push(st, clock + gap, ARRIVAL):
                    status = HEAP_FULL
        if status != OK:
            return status
    return OK
