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


def test_unknown_class_gets_a_readable_label():
    assert labels.label_for({1: "person"}, 5) == "class 5"
