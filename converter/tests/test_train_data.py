"""The procedural data: deterministic from (seed, index), drawn as described (a pixel oracle checks every object and
the background), captioned consistently, and the image views carry images only."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the training recipe needs PyTorch")

from clipgen_train.captions import (CAPTION_STREAM, HELD_OUT, POSITION_PHRASES, CaptionedScenes,  # noqa: E402
                                    caption)
from clipgen_train.data import (FolderImages, SceneImages, TrainingDataError, image_source,  # noqa: E402
                                rank_indices)
from clipgen_train.oracle import judge  # noqa: E402
from clipgen_train.scenes import (COLOURS, POSITIONS, RELATIONS, SHAPES, render, sample_scene,  # noqa: E402
                                  scene_rng, twin)

SIZE = 64
N_SCENES = 300
COLOUR_TOL = 0.02  # an antialiased ramp is one pixel wide; pixels a few pixels inside or away are exact


def test_same_seed_and_index_give_the_same_scene_pixels_and_caption():
    for index in (0, 1, 12345):
        a, b = sample_scene(3, index), sample_scene(3, index)
        assert a == b
        assert torch.equal(render(a, SIZE), render(b, SIZE))
        assert caption(a, scene_rng(3, index, 1)) == caption(b, scene_rng(3, index, 1))
    assert len({sample_scene(3, i) for i in range(50)}) == 50
    assert sample_scene(3, 7) != sample_scene(4, 7)


def test_the_generator_covers_the_whole_vocabulary():
    scenes = [sample_scene(0, i) for i in range(N_SCENES)]
    objects = [o for s in scenes for o in s.objects]
    assert {o.shape for o in objects} == set(SHAPES)
    assert {o.colour for o in objects} == set(COLOURS)
    assert {s.background for s in scenes} == set(COLOURS)
    assert {o.position for s in scenes if len(s.objects) == 1 for o in s.objects} == set(POSITIONS)
    assert {o.size for o in objects} == {"small", "large"}
    assert {len(s.objects) for s in scenes} == {1, 2}


def _at(image: torch.Tensor, x: float, y: float) -> np.ndarray:
    """The pixel at fractional position (x, y) of a [3, S, S] image."""
    return image[:, int(y * SIZE), int(x * SIZE)].numpy()


def test_pixel_oracle_objects_and_background_have_the_named_colours():
    for i in range(N_SCENES):
        scene = sample_scene(1, i)
        image = render(scene, SIZE)
        assert image.shape == (3, SIZE, SIZE) and image.dtype == torch.float32
        assert 0.0 <= float(image.min()) and float(image.max()) <= 1.0
        for obj in scene.objects:
            assert obj.colour != scene.background
            np.testing.assert_allclose(_at(image, obj.cx, obj.cy), COLOURS[obj.colour], atol=COLOUR_TOL,
                                       err_msg=f"scene {i}: {obj.shape} centre")
            named_x, named_y = POSITIONS[obj.position]
            assert abs(obj.cx - named_x) < 0.05 and abs(obj.cy - named_y) < 0.05
        # Background: every pixel farther than 1.5 extents (+ one pixel) from all objects.
        ys, xs = np.meshgrid((np.arange(SIZE) + 0.5) / SIZE, (np.arange(SIZE) + 0.5) / SIZE, indexing="ij")
        far = np.ones((SIZE, SIZE), bool)
        for obj in scene.objects:
            far &= np.hypot(xs - obj.cx, ys - obj.cy) > 1.5 * obj.extent + 1.0 / SIZE
        assert far.sum() > SIZE * SIZE // 3
        pixels = image.numpy().transpose(1, 2, 0)[far]  # [n, 3]
        np.testing.assert_allclose(pixels, np.broadcast_to(COLOURS[scene.background], pixels.shape),
                                   atol=COLOUR_TOL, err_msg=f"scene {i}: background")


def test_two_objects_sit_as_their_relation_says():
    for i in range(N_SCENES):
        scene = sample_scene(2, i)
        if len(scene.objects) == 2:
            a, b = scene.objects
            if scene.relation == "above":
                assert a.cy + 0.2 < b.cy
            else:
                assert scene.relation == "left of" and a.cx + 0.2 < b.cx


def test_captions_name_every_object_and_vary():
    data = CaptionedScenes(seed=5, size=32)
    seen = set()
    for i in range(N_SCENES):
        item = data.item(i)
        text, scene = item["caption"], item["scene"]
        assert item["image"].shape == (3, 32, 32)
        for obj in scene.objects:
            assert f"{obj.colour} {obj.shape}" in text, text
        if len(scene.objects) == 1 and scene.objects[0].size in text.split():
            assert f"{scene.objects[0].size} {scene.objects[0].colour}" in text
        for name in COLOURS:  # no colour is mentioned that the scene does not have
            if name in text.split():
                assert name in {o.colour for o in scene.objects} | {scene.background}, text
        words = text.split()
        for k, word in enumerate(words[:-1]):  # "an orange ...", "a red ...", never "a orange"
            if word in ("a", "an"):
                assert word == ("an" if words[k + 1][0] in "aeiou" else "a"), text
        seen.add(text)
    assert len(seen) > 0.9 * N_SCENES
    phrasings = {caption(sample_scene(0, 4), scene_rng(0, 4, s)) for s in range(40)}
    assert len(phrasings) >= 5


def test_held_out_phrasings_never_reach_training():
    markers = ["a drawing of", "that is", "coloured", " over ", "sitting above", "beside", "next to"]
    for i in range(N_SCENES):
        text = caption(sample_scene(0, i), scene_rng(0, i, CAPTION_STREAM))
        assert not any(m in text for m in markers), text
    held = {caption(sample_scene(0, i), scene_rng(0, i, 9), held_out=True) for i in range(100)}
    assert all(any(m in t for m in markers) or t.count(" ") == 1 for t in held)
    assert set(HELD_OUT) == {"single", "above", "left of"}


def _looks(scene) -> list[tuple[str, str]]:
    return [(o.shape, o.colour) for o in scene.objects]


def test_a_twin_has_the_same_objects_in_another_layout():
    kinds = set()
    for i in range(N_SCENES):
        scene = sample_scene(6, i)
        other = twin(scene, scene_rng(6, i, 2))
        assert other == twin(scene, scene_rng(6, i, 2))  # deterministic
        assert other.background == scene.background and len(other.objects) == len(scene.objects)
        if len(scene.objects) == 1:
            a, b = scene.objects[0], other.objects[0]
            assert _looks(scene) == _looks(other) and b.position != a.position
            kinds.add("resized" if b.size != a.size else "moved")
        else:
            assert sorted(_looks(scene)) == sorted(_looks(other)) or (
                {o.shape for o in scene.objects} == {o.shape for o in other.objects}
                and {o.colour for o in scene.objects} == {o.colour for o in other.objects})
            assert (other.relation, _looks(other)) != (scene.relation, _looks(scene))
            kinds.add("swapped" if sorted(_looks(scene)) == sorted(_looks(other)) else "recoloured")
            assert [o.position for o in other.objects] == list(RELATIONS[other.relation])
        # the oracle, judging the twin's render against the original scene, sees the layout change
        verdict = judge((render(other, SIZE).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8), scene)
        changed = (verdict["position"] is False or not all(o["colour"] and o["shape"] for o in verdict["objects"])
                   or other.objects[0].size != scene.objects[0].size
                   or other.relation != scene.relation)  # two look-alikes set the other way round
        assert changed, (scene, other)
    assert kinds == {"moved", "resized", "swapped", "recoloured"}


def test_hard_negative_batches_pair_scenes_with_their_twins_and_name_the_layout():
    plain = CaptionedScenes(seed=2, size=32).batch(list(range(8)))
    assert plain["caption"] == [CaptionedScenes(seed=2, size=32).item(i)["caption"] for i in range(8)]
    data = CaptionedScenes(seed=2, size=32, hard_negatives=0.5)
    batch = data.batch(list(range(8)))  # 2 pairs: samples 0-5, then the twins of 0 and 1
    assert batch["image"].shape == (8, 3, 32, 32) and len(batch["caption"]) == 8
    assert torch.equal(batch["image"][:6], plain["image"][:6])
    for k in (0, 1):
        scene, other = data.item(k)["scene"], data.twin_item(k)["scene"]
        assert other == twin(scene, scene_rng(2, k, 2))
        assert torch.equal(batch["image"][6 + k], render(other, 32))
        for s, text in ((scene, batch["caption"][k]), (other, batch["caption"][6 + k])):
            if len(s.objects) == 1:  # the layout is named, so the pair can be told apart from text alone
                assert any(p in text for p in POSITION_PHRASES[s.objects[0].position]), text
                assert f"{s.objects[0].size} {s.objects[0].colour}" in text, text
    with pytest.raises(ValueError, match="hard_negatives"):
        CaptionedScenes(seed=2, size=32, hard_negatives=1.5)


def test_image_views_carry_images_only():
    assert set(SceneImages(0, 32).item(3)) == {"image"}
    assert set(SceneImages(0, 32).batch([1, 2])) == {"image"}
    assert image_source(None, 0, 32).batch([0])["image"].shape == (1, 3, 32, 32)


def test_rank_indices_partition_the_global_batch():
    one = rank_indices(5, 8, 0, 1)
    two = rank_indices(5, 4, 0, 2) + rank_indices(5, 4, 1, 2)
    assert one == two == list(range(40, 48))


def test_folder_images_are_resized_cropped_and_flipped_on_the_second_pass(tmp_path):
    from PIL import Image

    rgb = np.zeros((40, 80, 3), np.uint8)
    rgb[:, :40] = (255, 0, 0)  # left half red, right half blue
    rgb[:, 40:] = (0, 0, 255)
    Image.fromarray(rgb).save(tmp_path / "a.png")
    (tmp_path / "notes.txt").write_text("not an image")
    images = FolderImages(str(tmp_path), 32)
    first, again = images.item(0)["image"], images.item(1)["image"]
    assert first.shape == (3, 32, 32)
    assert first[0, 16, 2] > 0.9 and first[2, 16, 29] > 0.9  # centre crop keeps the red / blue border
    assert torch.allclose(again, first.flip(-1))


def test_folder_errors_name_the_folder_and_the_file(tmp_path):
    with pytest.raises(TrainingDataError, match="not a directory"):
        FolderImages(str(tmp_path / "missing"), 32)
    with pytest.raises(TrainingDataError, match="no image files"):
        FolderImages(str(tmp_path), 32)
    (tmp_path / "bad.png").write_bytes(b"not a png")
    with pytest.raises(TrainingDataError, match="bad.png"):
        FolderImages(str(tmp_path), 32).item(0)
