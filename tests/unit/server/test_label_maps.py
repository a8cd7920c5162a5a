from __future__ import annotations

import pytest

from inference_server import labels


def test_default_label_map_is_the_zoo_coco_map():
    coco = labels.coco()
    assert len(coco) == 80
    assert coco[1] == "person" and coco[3] == "car" and coco[90] == "toothbrush"
    assert 12 not in coco  # the Zoo's COCO ids have gaps: 90 ids, 80 classes


def test_pbtxt_display_name_wins_and_name_is_the_fallback():
    text = """
    item { id: 1 name: "/m/01g317" display_name: "person" }
    item {
      name: "cat"
      id: 2
    }
    """
    assert labels.parse(text) == {1: "person", 2: "cat"}


def test_json_label_map():
    assert labels.parse('{"1": "apple", "7": "pear"}') == {1: "apple", 7: "pear"}


@pytest.mark.parametrize("text", ["", "item { display_name: 'x' }", "{}", '{"one": "x"}', "[1, 2]"])
def test_malformed_label_maps_are_refused_with_a_reason(text):
    with pytest.raises(labels.LabelMapError):
        labels.parse(text)


def test_the_downloaded_label_map_wins_over_one_shipped_with_the_model(tmp_path):
    assert labels.beside(tmp_path) is None
    (tmp_path / "label_map.pbtxt").write_text('item { id: 1 display_name: "shipped" }')
    assert labels.load(labels.beside(tmp_path)) == {1: "shipped"}
    (tmp_path / labels.DOWNLOADED).write_text('{"1": "downloaded"}')  # no extension: read by content
    assert labels.load(labels.beside(tmp_path)) == {1: "downloaded"}
