from __future__ import annotations

import pytest
from pydantic import ValidationError

from healthcheck.settings import CheckSettings


def test_defaults_match_the_docs_table() -> None:
    s = CheckSettings()
    assert (s.interval, s.effective_timeout, s.fall, s.rise) == (2.0, 1.0, 3, 2)
    assert s.initial == "unknown" and s.expect_status == 200 and s.path == "/healthz"
    assert s.worst_detection() == 6.0


def test_timeout_must_fit_interval() -> None:
    with pytest.raises(ValidationError, match=r"must not exceed checks\.interval"):
        CheckSettings(interval=1.0, timeout=1.5)
    with pytest.raises(ValidationError):
        CheckSettings(fall=0)
    with pytest.raises(ValidationError):
        CheckSettings.model_validate({"intervall": 3})
