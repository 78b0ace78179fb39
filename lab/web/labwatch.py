"""What the page shows under ``dnslab up`` without a drill: the lab's own health and answers.

No drill runs, so no drill publishes events. ``LabWatch`` follows the same two sources a live
drill observes (``lab.drill.observe``): the checker's health stream (``HealthFeed``, the
``/v1/events`` SSE feed) and the authoritative answer per location (``AnswerProbe``, asked
from each location's probe address), and publishes them to the hub as the same typed events
a drill publishes, ``CheckerDecision`` and ``AnswerChanged``, timed in seconds since
``dnslab up`` started. The checker's snapshot on (re)connect becomes one ``CheckerDecision``
per region with reason ``snapshot``; the first answer of a location is an ``AnswerChanged``
with no previous answer. Every answer query goes into ``probes`` (``dnslab up`` records that
count for an attached drill's cost). A drill run against this lab (``dnslab drill --attach``)
serves its own page with its own events.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time

from lab.config import LabConfig
from lab.drill import events as ev
from lab.drill.events import EventSink
from lab.drill.netclient import QueryCount


class LabWatch:
    def __init__(
        self,
        cfg: LabConfig,
        sink: EventSink,
        secret_file: str | None = None,
        probes: QueryCount | None = None,
    ) -> None:
        from lab.drill.runner import _targets, signed_watch
        from lab.sim.run import networks

        # with the lab's secret the page believes only the checker's signed stream, like the
        # authoritative server and the drill's watch (docs/security.md)
        self.targets = signed_watch(_targets(cfg, networks(cfg)), cfg, secret_file)
        self.vantage = cfg.checkers[0].name
        self.sink = sink
        self.probes = probes or QueryCount()  # every answer query it sends (drill --attach)
        self.t0 = time.monotonic()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._thread = threading.Thread(target=self._main, name="labwatch", daemon=True)

    def now(self) -> float:
        return time.monotonic() - self.t0

    def start(self) -> LabWatch:
        self._thread.start()
        return self

    def stop(self) -> None:
        loop, task = self._loop, self._task
        if loop is not None and task is not None:
            with contextlib.suppress(RuntimeError):  # the loop already ended
                loop.call_soon_threadsafe(task.cancel)
        self._thread.join(timeout=5)

    def _main(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            task = self._task = loop.create_task(self._both())
            with contextlib.suppress(asyncio.CancelledError):
                loop.run_until_complete(task)
        finally:
            loop.close()

    async def _both(self) -> None:
        await asyncio.gather(self._health(), self._answers())

    async def _health(self) -> None:
        from healthcheck.events import Snapshot, StateEvent
        from healthcheck.feed import HealthFeed

        def on_snapshot(snap: Snapshot) -> None:
            for st in snap.regions:
                if str(st.state) in ("up", "down"):
                    self.sink.publish(
                        ev.CheckerDecision(
                            self.now(), st.region, str(st.state) == "up", snap.checker, "snapshot"
                        )
                    )

        def on_event(e: StateEvent) -> None:
            state = str(e.status.state)
            if state in ("up", "down"):
                at = self.now() - max(0.0, time.time() - e.at)  # when the checker decided
                self.sink.publish(
                    ev.CheckerDecision(
                        at, e.status.region, state == "up", self.vantage, e.status.reason
                    )
                )

        await HealthFeed(
            self.targets.events_url,
            on_snapshot=on_snapshot,
            on_event=on_event,
            key=self.targets.checker_key,
            checker=self.targets.checker_name,
        ).run()

    async def _answers(self) -> None:
        from lab.drill.netclient import query
        from lab.drill.observe import AnswerProbe

        tg = self.targets

        def changed(t: float, loc: str, new: tuple[str, ...], old: tuple[str, ...]) -> None:
            regions = tuple(tg.region_of.get(a, "") for a in new)
            self.sink.publish(ev.AnswerChanged(t, loc, new, regions, old))

        for loc, source in tg.probe_sources.items():  # the first answers: no previous one
            ans = await query(tg.authoritative, source, 0.5, count=self.probes)
            if not ans.error:
                changed(self.now(), loc, ans.addrs, ())
        await AnswerProbe(
            tg.authoritative, tg.probe_sources, self.now, 0.1, on_change=changed, count=self.probes
        ).run()
