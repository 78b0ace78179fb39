"""The suite's own rule: under DNSLAB_REQUIRE_SYSTEM_TOOLS=1 nothing skips (tests/conftest.py).

Run on a throwaway test file with the real conftest, in and out of the variable. Mutation: the
`report.outcome = "failed"` lines of the hooks removed — the skips stay skips and these fail.
"""

from __future__ import annotations

import pytest

from tests.conftest import REPO

pytest_plugins = ["pytester"]

CASES = """
import pytest

from tests.conftest import require_tool


def test_skips() -> None:
    pytest.skip("no engine here")


def test_needs_a_missing_tool() -> None:
    require_tool("no-such-binary-dnslab")


@pytest.mark.xfail(strict=True, reason="a known bug")
def test_known_bug() -> None:
    raise AssertionError
"""


@pytest.fixture
def cases(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest((REPO / "tests" / "conftest.py").read_text())
    pytester.makepyfile(test_cases=CASES)
    pytester.syspathinsert(REPO)
    return pytester


def test_outside_ci_missing_tools_skip(
    cases: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DNSLAB_REQUIRE_SYSTEM_TOOLS", raising=False)
    cases.runpytest("-p", "no:cacheprovider").assert_outcomes(skipped=2, xfailed=1)


def test_under_the_variable_every_skip_fails(
    cases: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DNSLAB_REQUIRE_SYSTEM_TOOLS", "1")
    result = cases.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=2, xfailed=1)
    result.stdout.fnmatch_lines(["*test_skips - skipped under DNSLAB_REQUIRE_SYSTEM_TOOLS*"])
    assert "no engine here" in result.stdout.str()  # the skip's reason is kept


def test_a_module_skipped_at_import_fails_too(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makeconftest((REPO / "tests" / "conftest.py").read_text())
    pytester.makepyfile(test_mod='import pytest\npytest.importorskip("no_such_module_x")\n')
    pytester.syspathinsert(REPO)
    monkeypatch.setenv("DNSLAB_REQUIRE_SYSTEM_TOOLS", "1")
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(errors=1)
