"""`evaluate.report_on: valid` keeps the test split unread: tuned on one seeded half of valid,
reported on the other; the default reports on test."""

from __future__ import annotations

import json

import numpy as np
import pytest

from clusterhpc.config import load_config
from clusterhpc.evaluate.protocol import choose_sets


class Images:
    """A scored split reduced to its image ids."""

    def __init__(self, ids: np.ndarray) -> None:
        self.ids = ids
        self.n_images = len(ids)

    def take(self, rows: np.ndarray) -> Images:
        return Images(self.ids[rows])


@pytest.fixture
def survey(tmp_path):
    packed = tmp_path / "survey" / "packed"
    packed.mkdir(parents=True)
    splits = {name: {"n_images": n, "shards": []} for name, n in (("valid", 9), ("test", 5))}
    (packed / "index.json").write_text(json.dumps({"splits": splits}))
    return tmp_path


def chosen(survey, report_on: str):
    cfg = load_config(
        None,
        [
            f"data.root={survey / 'survey'}",
            f"run.dir={survey / 'run'}",
            f"evaluate.report_on={report_on}",
        ],
    )
    read = []

    def score(packed, split):
        read.append(split)
        return Images(np.arange(9) + 100 if split == "valid" else np.arange(5) + 200)

    tune, report, protocol = choose_sets(cfg, cfg, score)
    return tune, report, protocol, read


def test_report_on_valid_never_reads_test_and_splits_valid_in_two(survey):
    tune, report, protocol, read = chosen(survey, "valid")
    assert read == ["valid"]
    assert protocol == {"tuned_on": "valid (half A)", "reported_on": "valid (half B)"}
    assert not set(tune.ids) & set(report.ids)
    assert sorted([*tune.ids, *report.ids]) == list(range(100, 109))
    again = chosen(survey, "valid")
    np.testing.assert_array_equal(again[0].ids, tune.ids)


def test_default_reports_on_test(survey):
    tune, report, protocol, read = chosen(survey, "test")
    assert read == ["valid", "test"]
    assert protocol == {"tuned_on": "valid", "reported_on": "test"}
    assert list(report.ids) == list(range(200, 205)) and tune.n_images == 9
