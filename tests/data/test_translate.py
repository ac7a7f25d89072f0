"""Random translations: pixels and boxes move together, weights follow the visible part,
draws are seeded, and both readers agree."""

from __future__ import annotations

import numpy as np
import pytest

from clusterhpc.box_geometry import area, clip
from clusterhpc.data.augment import augment, moved_weights, translate
from clusterhpc.data.packed import PackedSplit, iterate
from clusterhpc.data.tf_datasets import detection_dataset
from tests.data.fixtures import make_entries, pack


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("shift")
    pack({"train": make_entries(tmp / "survey", 8)}, tmp / "survey", tmp / "packed")
    return PackedSplit(tmp / "packed", "train")


@pytest.mark.parametrize("dx, dy", [(5, 0), (0, -4), (-7, 3), (9, 6)])
def test_translate_moves_pixels_and_fills_with_the_median(dx, dy):
    image = np.full((20, 30, 3), 7, np.uint8)
    image[2:7, 3:12] = 255  # box x 3..12, y 2..7
    out, boxes = augment(image, np.array([[3, 2, 12, 7]], np.float32), np.zeros(3, bool), (dx, dy))
    np.testing.assert_array_equal(boxes[0], [3 + dx, 2 + dy, 12 + dx, 7 + dy])
    x1, y1, x2, y2 = np.clip(boxes[0], 0, [30, 20, 30, 20]).astype(int)
    assert np.all(out[y1:y2, x1:x2] == 255)
    inside = np.zeros((20, 30), bool)
    inside[y1:y2, x1:x2] = True
    assert np.all(out[~inside] == 7)  # the uncovered strip is the median sky, not black


def test_translate_by_more_than_the_image_leaves_blank_sky():
    image = np.full((24, 24, 3), (9, 3, 6), np.uint8)
    image[4:9, 4:9] = 240  # a bright galaxy does not move the sky level
    out = translate(image, 30, 0)
    assert np.all(out == np.array([9, 3, 6], np.uint8))


def test_flips_then_shift_compose():
    image = np.zeros((16, 16, 3), np.uint8)
    image[1:4, 2:9] = 200
    box = np.array([[2, 1, 9, 4]], np.float32)
    out, boxes = augment(image, box, np.array([True, False, True]), (3, -1))
    # h-flip: x 7..14; transpose: x 1..4, y 7..14; shift: x 4..7, y 6..13
    np.testing.assert_array_equal(boxes[0], [4, 6, 7, 13])
    assert np.all(out[6:13, 4:7, 0] == 200) and out[..., 0].sum() == 200 * 21


def test_moved_weights_by_hand():
    before = np.array([[-2, 0, 8, 10], [0, 0, 10, 10]], np.float32)  # 80 % and 100 % inside
    after = np.array([[6, 0, 14, 10], [6, 0, 16, 10]], np.float32)  # in-image parts, +6 px
    np.testing.assert_allclose(
        moved_weights(np.array([0.8, 1.0]), before, after, 10, 10), [0.4, 0.4], rtol=1e-6
    )


def test_part_outside_the_cutout_is_not_moved_into_the_blank_strip():
    image = np.full((10, 30, 3), 5, np.uint8)
    image[:, :10] = 200  # the visible half of a cluster box x -10..10
    box = np.array([[-10, 0, 10, 10]], np.float32)
    out, moved = augment(image, box, np.zeros(3, bool), (10, 0))
    np.testing.assert_array_equal(moved[0], [10, 0, 20, 10])  # only the pixels that exist
    assert np.all(out[:, 10:20, 0] == 200) and np.all(out[:, :10, 0] == 5)
    assert moved_weights(np.array([0.5]), box, moved, 30, 10)[0] == pytest.approx(0.5)
    _, back = augment(image, box, np.zeros(3, bool), (-5, 0))  # further out: 5 px of 20 left
    np.testing.assert_array_equal(back[0], [-5, 0, 5, 10])
    assert moved_weights(np.array([0.5]), box, back, 30, 10)[0] == pytest.approx(0.25)


def test_plan_shifts_are_bounded_seeded_and_leave_the_other_draws_alone(split):
    plain = split.epoch_plan(seed=4, epoch=1, aug_prob=0.5)
    shifted = split.epoch_plan(seed=4, epoch=1, aug_prob=0.5, max_shift=0.25)
    np.testing.assert_array_equal(plain.indices, shifted.indices)
    np.testing.assert_array_equal(plain.flips, shifted.flips)
    assert not plain.shifts.any()
    limit = int(0.25 * 32)
    assert np.abs(shifted.shifts).max() <= limit and shifted.shifts.any()
    again = split.epoch_plan(seed=4, epoch=1, aug_prob=0.5, max_shift=0.25)
    np.testing.assert_array_equal(shifted.shifts, again.shifts)
    halves = [split.epoch_plan(4, 1, r, 2, aug_prob=0.5, max_shift=0.25) for r in range(2)]
    np.testing.assert_array_equal(halves[1].shifts, shifted.shifts[1::2])


def test_tf_pipeline_matches_python_iterator_with_shifts(split):
    plan = split.epoch_plan(seed=2, epoch=0, aug_prob=0.5, max_shift=0.4)
    assert plan.shifts.any()
    batches = list(detection_dataset(split, plan, input_size=32, batch_size=4, max_boxes=2))
    expected = list(iterate(split, plan))
    for b, batch in enumerate(batches):
        for j in range(4):
            ref = expected[b * 4 + j]
            np.testing.assert_allclose(batch["image"][j].numpy(), ref.image / 255.0, atol=1e-6)
            np.testing.assert_allclose(batch["boxes"][j, 0], ref.boxes[0], atol=1e-5)
            original = split.item(int(plan.indices[b * 4 + j])).boxes[:1]
            visible = area(clip(ref.boxes[:1], 32, 32))[0] / area(original)[0]
            assert batch["weight"][j, 0].numpy() == pytest.approx(visible, abs=1e-6)
            assert ref.box_fields["weight"][0] == pytest.approx(visible, abs=1e-6)


def reference_augment(image: np.ndarray, flips, shift) -> np.ndarray:
    """The definition, written plainly: np.flip / transpose, then a pixel-by-pixel move onto
    the median of every 4th pixel."""
    if flips[0]:
        image = np.flip(image, 1)
    if flips[1]:
        image = np.flip(image, 0)
    if flips[2]:
        image = image.transpose(1, 0, 2)
    dx, dy = shift
    if not (dx or dy):
        return image
    fill = np.median(image[::4, ::4].reshape(-1, 3), axis=0).astype(np.uint8)
    out = np.empty_like(image)
    height, width = image.shape[:2]
    for y in range(height):
        for x in range(width):
            inside = 0 <= y - dy < height and 0 <= x - dx < width
            out[y, x] = image[y - dy, x - dx] if inside else fill
    return out


@pytest.mark.parametrize("case", range(24))
def test_fast_pixel_moves_equal_the_plain_definition(case):
    rng = np.random.default_rng(case)
    height, width = (13, 13) if case % 2 else (9, 14)
    image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    flips = rng.random(3) < 0.5
    flips[2] &= height == width
    shift = tuple(int(v) for v in rng.integers(-16, 17, 2)) if case % 3 else (0, 0)
    out, _ = augment(image, np.zeros((0, 4)), flips, shift)
    assert out.flags.c_contiguous
    np.testing.assert_array_equal(out, reference_augment(image, flips, shift))
