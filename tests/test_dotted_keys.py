from clusterhpc.dotted_keys import dotted_items


def test_nested_leaves_get_dotted_keys_and_lists_stay_leaves():
    data = {"seed": 3, "model": {"width": 0.5, "anchors": [1, 2], "head": {"kind": "yolo"}}}
    assert dotted_items(data) == {
        "seed": 3,
        "model.width": 0.5,
        "model.anchors": [1, 2],
        "model.head.kind": "yolo",
    }
    assert dotted_items({"total": 1.5, "parts": {}}, "loss") == {"loss.total": 1.5}
    assert dotted_items({}) == {}
