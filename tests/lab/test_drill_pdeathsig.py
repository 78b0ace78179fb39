from __future__ import annotations

from lab.drill.pdeathsig import main


def test_usage_errors_exec_nothing() -> None:
    # (arming the death signal would affect the test process itself: that path is covered by
    # tests/integration/test_up.py::test_children_die_with_a_sigkilled_up)
    assert main([]) == 2
    assert main(["not-a-pid", "/bin/true"]) == 2
    assert main(["123"]) == 2
