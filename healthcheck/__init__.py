"""Health checker: rise/fall state machine (pure); probes, scheduler and SSE event stream (shells)."""
