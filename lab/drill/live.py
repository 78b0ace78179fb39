"""One live drill run: the client population, the fault timeline and the observers, in one
asyncio loop, producing a ``RunRecord`` (the same shape as ``sim.simulate``).

Each client is a coroutine moving its ``stepper.ClientStepper`` (the one client sequencing,
shared with the simulation): every ``request_interval`` (the grid slips behind a slow
request) it asks the stepper, resolves if needed (from its own source address, at the
authoritative server or the lab resolver), then makes ``GET /`` on a fresh connection to the
answer; a background refresh's answer lands when its reply arrives. Times are seconds since
the population started (``time.monotonic`` based).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from lab.drill import events as ev
from lab.drill import measure
from lab.drill.measure import Observation
from lab.drill.netclient import Counts, DnsAnswer, http_get, query
from lab.drill.observe import (
    AnswerProbe,
    CheckerWatch,
    Reading,
    Transition,
    quiet_reading,
    server_queries,
)
from lab.drill.population import Client, priming_ages
from lab.drill.profiles import DNS_TIMEOUT_S, HTTP_TIMEOUT_S, Entry
from lab.drill.record import RunRecord
from lab.drill.scenario import BUSIEST, CONTAINER_ACTIONS, RECOVERY_ACTIONS, FaultSpec
from lab.drill.stepper import Act, ClientStepper, Reply, Schedule
from lab.errors import InjectionError


class Injector(Protocol):
    """Carries out fault steps; each method returns a line for the timeline, or raises
    ``InjectionError`` when the step did not take effect."""

    def kill(self, region: str) -> str: ...
    async def restart(self, region: str) -> str: ...
    async def post_fault(self, region: str, body: dict[str, object]) -> str: ...
    async def container_fault(
        self, action: str, region: str, params: Mapping[str, object]
    ) -> str: ...


@dataclass(frozen=True)
class Targets:
    """Where the lab serves, as the drill clients need it."""

    authoritative: tuple[str, int]
    resolver: tuple[str, int]
    region_of: Mapping[str, str]  # answer address -> region
    port_of: Mapping[str, int]  # answer address -> HTTP port of that region's backend
    region_addrs: Mapping[str, frozenset[str]]
    events_url: str
    probe_sources: Mapping[str, str]  # location -> source address of the answer probe
    checker_key: bytes | None = None  # the lab has a secret: the watch verifies the stream
    checker_name: str | None = None
    authoritative_metrics: str | None = None  # its admin /metrics (queries answered)
    # with --attach: the running `dnslab up`'s probe count (status line, live page), as it
    # publishes it in runs/up-current.json; None when it cannot be read
    up_probes: Callable[[], Counts | None] | None = None


Progress = Callable[[float, float, RunRecord], None]


@dataclass
class LiveRun:
    record: RunRecord
    targets: Targets
    injector: Injector
    progress: Progress | None = None
    vantage: str = "checker"  # the checker whose event stream the drill follows
    on_priming: Callable[[float, float], None] | None = None  # (elapsed, total) while priming
    ttl_clock: str = ""  # the lab resolver's ttl-clock, for RunStarted
    t0: float = field(default_factory=time.monotonic)
    fault_wall: float | None = None

    def now(self) -> float:
        return time.monotonic() - self.t0

    async def sleep_until(self, t: float) -> None:
        delay = t - self.now()
        if delay > 0:
            await asyncio.sleep(delay)

    # -- clients -------------------------------------------------------------------------

    async def resolve(self, client: Client) -> DnsAnswer:
        server = (
            self.targets.resolver
            if client.profile.upstream == "resolver"
            else self.targets.authoritative
        )
        t = self.now()
        ans = await query(server, client.addr, DNS_TIMEOUT_S)
        first = ans.addrs[0] if ans.addrs else ""
        self.record.observe(
            Observation(
                t,
                client.id,
                "resolve",
                first,
                self.targets.region_of.get(first, ""),
                ans.ttl if not ans.error else None,
                not ans.error,
                ans.error or client.profile.upstream,
                (self.now() - t) * 1000,
            )
        )
        return ans

    async def client_loop(self, client: Client, end: float) -> None:
        """The client's requests until ``end``, as its ``ClientStepper`` decides them: answers
        land when the reply arrives (real DNS latency) and a slow request delays the grid."""
        st = ClientStepper(client.profile, client.age_fraction)
        sched = Schedule(client.start_offset, self.record.scenario.request_interval, slip=True)
        refresh: asyncio.Task[None] | None = None

        async def refresh_entry() -> None:
            ans = DnsAnswer((), 0, 0, "refresh cancelled")
            try:
                ans = await self.resolve(client)
            finally:
                st.refreshed(_lookup(ans), self.now())

        t_next = sched.start
        while True:
            await self.sleep_until(t_next)
            now = self.now()
            if now >= end:
                break
            d = st.decide(now)
            if d.act is Act.RESOLVE:
                ans = await self.resolve(client)
                if st.resolved(_lookup(ans), self.now()) is None:
                    self._request_failed(client, now, f"dns: {ans.error}")
                    t_next = sched.after(t_next, self.now())
                    continue
            elif d.act is Act.REFRESH:
                refresh = asyncio.create_task(refresh_entry())
            assert st.entry is not None
            await self.request(client, st.entry, d.how)
            t_next = sched.after(t_next, self.now())
        if refresh is not None:
            refresh.cancel()

    async def request(self, client: Client, entry: Entry, how: str) -> None:
        addr = entry.addrs[0]
        t = self.now()
        port = self.targets.port_of.get(addr)
        if port is None:
            self._request_failed(client, t, f"answer {addr} is no lab region", addr, entry.ttl)
            return
        res = await http_get(addr, port, client.addr, HTTP_TIMEOUT_S)
        ok = res.status == 200
        self.record.observe(
            Observation(
                t,
                client.id,
                "request",
                addr,
                self.targets.region_of.get(addr, ""),
                entry.ttl,
                ok,
                how if ok else f"{how}: {res.error or f'http {res.status}'}",
                (self.now() - t) * 1000,
            )
        )

    def _request_failed(
        self, client: Client, t: float, why: str, addr: str = "", ttl: int | None = None
    ) -> None:
        self.record.observe(
            Observation(
                t, client.id, "request", addr, self.targets.region_of.get(addr, ""), ttl, False, why
            )
        )

    # -- faults --------------------------------------------------------------------------

    async def faults(self, steps: list[FaultSpec]) -> None:
        """Carry out the timeline. A step's time is taken when it has taken effect (the kill
        returned, the POST was answered, the restarted region is ready)."""
        for step in steps:
            await self.sleep_until(step.at)
            region = step.region
            if region == BUSIEST:
                region = (
                    self.record.dead_region
                    or measure.busiest_region(
                        measure.requests(self.record.observations), self.now()
                    )
                    or ""
                )
                if not region:
                    self.record.injection_failed(
                        self.now(), BUSIEST, step.action, "no client reached any region before it"
                    )
                    continue
            t_call = self.now()
            try:
                line = await self._inject(step, region)
            except InjectionError as exc:
                self.record.injection_failed(self.now(), region, step.action, str(exc))
                continue
            t, wall = self.now(), time.time()
            if step.action in CONTAINER_ACTIONS:
                # the engine acts at once, then answers (a kill waits for the exit, a
                # disconnect for the cleanup): the fault took effect when the call began
                wall, t = wall - (t - t_call), t_call
            if self.record.fault_at is None and step.action not in RECOVERY_ACTIONS:
                self.fault_wall = wall
            self.record.fault_step(t, region, step.action, step.fault_name, line, step.lasts)

    async def _inject(self, step: FaultSpec, region: str) -> str:
        if step.action == "kill":
            return self.injector.kill(region)
        if step.action == "restart":
            return await self.injector.restart(region)
        if step.action == "clear":
            return await self.injector.post_fault(region, {"fault": "clear"})
        if step.action in CONTAINER_ACTIONS:
            return await self.injector.container_fault(step.action, region, step.params)
        return await self.injector.post_fault(region, {"fault": step.fault, **step.params})

    # -- the run -------------------------------------------------------------------------

    async def prime_resolver(self, clients: list[Client]) -> None:
        """Fill the lab resolver's cache for each location at a random moment up to one TTL
        before the population starts, so its expiry phase is random as in a busy resolver
        (client caches are pre-aged instead; the resolver's cannot be)."""
        firsts: dict[str, Client] = {}
        for c in clients:
            if c.profile.upstream == "resolver":
                firsts.setdefault(c.location, c)
        if not firsts:
            return
        ages = priming_ages(list(firsts), self.record.ttl, self.record.scenario.seed)
        lead = max(ages.values())
        start = time.monotonic()

        async def prime(loc: str, client: Client) -> None:
            await asyncio.sleep(lead - ages[loc])
            await query(self.targets.resolver, client.addr, DNS_TIMEOUT_S)

        async def report() -> None:
            assert self.on_priming is not None
            while True:
                self.on_priming(min(lead, time.monotonic() - start), lead)
                await asyncio.sleep(0.5)

        ticker = asyncio.create_task(report()) if self.on_priming is not None else None
        await asyncio.gather(*(prime(loc, c) for loc, c in firsts.items()))
        await asyncio.sleep(max(0.0, start + lead - time.monotonic()))
        if ticker is not None:
            ticker.cancel()
            assert self.on_priming is not None
            self.on_priming(lead, lead)
        for loc, age in sorted(ages.items()):
            self.record.note(-age, f"resolver primed for {loc} ({age:.1f}s before the start)")

    async def run(self, clients: list[Client], end: float) -> RunRecord:
        await self.prime_resolver(clients)
        watch = CheckerWatch(
            self.targets.events_url,
            on_transition=self._decision,
            key=self.targets.checker_key,
            checker=self.targets.checker_name,
        )
        probe = AnswerProbe(
            self.targets.authoritative,
            self.targets.probe_sources,
            self.now,
            on_change=self._answer_changed,
        )
        before = await self._reading(probe)
        self.t0 = time.monotonic()
        probing = asyncio.create_task(probe.run())
        background = [
            asyncio.create_task(watch.run()),
            probing,
            asyncio.create_task(self.faults(list(self.record.scenario.faults))),
        ]
        if self.progress is not None:
            background.append(asyncio.create_task(self._progress(end)))
        self.t0 = time.monotonic()
        self.record.start(self.ttl_clock)
        try:
            await asyncio.gather(*(self.client_loop(c, end) for c in clients))
            probe.stopping = True  # its last queries end (answered or timed out), not cancelled
            await probing
        finally:
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
        self.record.end = self.now()
        self._authoritative_queries(before, await self._reading(probe))
        self._conclude(watch, probe)
        self.record.events.sort()
        self.record.conclude()
        return self.record

    async def _reading(self, probe: AnswerProbe) -> Reading | None:
        """The server's counter with the drill probe's and (attached) `dnslab up`'s counts."""
        url = self.targets.authoritative_metrics
        if url is None:
            return None
        up = self.targets.up_probes
        counts = [probe.count.counts, *([up] if up is not None else [])]
        return await asyncio.to_thread(quiet_reading, lambda: server_queries(url), counts)

    def _authoritative_queries(self, before: Reading | None, after: Reading | None) -> None:
        """What the authoritative server answered during the run (its own counter, read
        before the clients started and after they stopped, each time with no probe query
        on the wire) minus the probes' queries meanwhile (the drill's answer probe and, with
        --attach, `dnslab up`'s status line and live page): the clients' direct queries plus
        the resolver's upstream ones. Notes say what was subtracted and any uncertainty."""
        rec = self.record
        if before is None or after is None:
            where = self.targets.authoritative_metrics or "no /metrics address"
            rec.notes.append(f"authoritative queries not measured: could not read {where}")
            return
        counted = after.server - before.server
        (drill0, *up0), (drill1, *up1) = before.probes, after.probes
        assert drill0 is not None and drill1 is not None  # in this process: always readable
        drill = drill1.sent - drill0.sent
        unanswered = drill1.unanswered - drill0.unanswered
        up: int | None = None
        text = f"{drill} drill probe queries"
        if up0 and up1:  # attached
            if up0[0] is None or up1[0] is None:
                text += (
                    " (no `dnslab up` of this lab.toml recorded a probe count in "
                    "runs/up-current.json here: a lab started by hand, or `dnslab up` runs "
                    "elsewhere; its status line's and live page's queries, if any, are "
                    "counted as client traffic)"
                )
            else:
                up = up1[0].sent - up0[0].sent
                unanswered += up1[0].unanswered - up0[0].unanswered
                text += f" + {up} `dnslab up` probe queries (status line, live page)"
        measured = counted - drill - (up or 0)
        loose = before.loose + after.loose
        rec.authoritative_queries = max(0, measured)
        rec.server_queries = counted
        rec.probe_queries = {"drill": drill, "up": up, "no_reply": unanswered, "in_flight": loose}
        rec.notes.append(
            f"authoritative queries: the server counted {counted} during the run, minus "
            f"{text} = {measured} (clients + resolver upstream)"
        )
        if loose:
            rec.notes.append(
                f"authoritative queries ±{loose}: no reading found the probes quiet; {loose} "
                "probe queries were on the wire at a reading (counted by the server or not)"
            )
        if unanswered:
            rec.notes.append(
                f"authoritative queries up to {unanswered} too low: {unanswered} probe queries "
                "got no reply, so the server may not have counted them"
            )

    def _decision(self, tr: Transition) -> None:
        """A checker event as it arrives, timed at the checker's decision (wall → run time)."""
        if tr.state not in ("up", "down"):
            return
        at = tr.received - self.t0 - max(0.0, time.time() - tr.wall)
        self.record.emit(
            ev.CheckerDecision(at, tr.region, tr.state == "up", self.vantage, tr.reason)
        )

    def _answer_changed(
        self, t: float, location: str, new: tuple[str, ...], old: tuple[str, ...]
    ) -> None:
        regions = tuple(self.targets.region_of.get(a, "") for a in new)
        self.record.emit(ev.AnswerChanged(t, location, new, regions, old))

    async def _progress(self, end: float) -> None:
        assert self.progress is not None
        while True:
            self.progress(self.now(), end, self.record)
            await asyncio.sleep(0.5)

    def _conclude(self, watch: CheckerWatch, probe: AnswerProbe) -> None:
        rec = self.record
        for tr in watch.transitions:
            rel = tr.received - self.t0
            rec.note(rel, f"checker: {tr.region} {tr.previous} → {tr.state} ({tr.reason})")
        if rec.fault_at is None or rec.dead_region is None or self.fault_wall is None:
            return
        down = watch.first(rec.dead_region, "down", self.fault_wall - 0.5)
        if down is not None:
            rec.detected_at = rec.fault_at + max(0.0, down.wall - self.fault_wall)
            if down.streak_since is not None and down.streak_since < self.fault_wall:
                early = self.fault_wall - down.streak_since
                rec.prefault_streak_s = early
                rec.notes.append(
                    f"the checker's failure streak on {rec.dead_region} began {early:.2f}s before "
                    f"the fault ({down.reason}): probes were already failing (an overloaded region "
                    "or machine), so detection is shorter than the model's (F-1)·I"
                )
        else:
            rec.notes.append(f"the checker never marked {rec.dead_region} down during the run")
        dead_addrs = self.targets.region_addrs.get(rec.dead_region, frozenset())
        changed = probe.changed_at(dead_addrs, rec.fault_at)
        if changed is not None:
            rec.propagated_at = changed
            rec.note(changed, f"authoritative: {rec.dead_region} out of answers")
        elif down is not None:
            rec.notes.append("the authoritative server kept answering with the dead region")


def _lookup(ans: DnsAnswer) -> Reply:
    return Reply(not ans.error, ans.addrs, ans.ttl)


def run_live(
    record: RunRecord,
    targets: Targets,
    injector: Injector,
    progress: Progress | None = None,
    vantage: str = "checker",
    ttl_clock: str = "",
    on_priming: Callable[[float, float], None] | None = None,
) -> RunRecord:
    """Run the population until ``record.end`` (seconds after it starts) and fill ``record``."""
    live = LiveRun(record, targets, injector, progress, vantage, on_priming, ttl_clock)
    return asyncio.run(live.run(record.clients, record.end))
