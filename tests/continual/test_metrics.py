import json

import numpy as np

from hyperfunc.continual import AccuracyMatrix


def test_metrics_against_hand_computation() -> None:
    r = AccuracyMatrix(3)
    r.record(0, [0.9])
    r.record(1, [0.7, 0.8])
    r.record(2, [0.6, 0.85, 0.95])
    assert np.isclose(r.average_accuracy(), (0.6 + 0.85 + 0.95) / 3)
    assert np.isclose(r.backward_transfer(), ((0.6 - 0.9) + (0.85 - 0.8)) / 2)
    # forgetting: task 0 best 0.9 → 0.6; task 1 best 0.8 → 0.85 (negative forgetting)
    assert np.isclose(r.forgetting(), ((0.9 - 0.6) + (0.8 - 0.85)) / 2)
    data = json.loads(r.to_json())
    assert data["R"][0] == [0.9, None, None]
    assert "average accuracy 80.00 %" in r.table()


def test_single_task_has_no_transfer() -> None:
    r = AccuracyMatrix(1)
    r.record(0, [0.5])
    assert r.backward_transfer() == 0.0 and r.forgetting() == 0.0 and r.completed == 1
