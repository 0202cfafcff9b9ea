"""The synthetic writer: round trip, determinism, atomicity, styles, ranges."""

import glob
import os

import numpy as np
import pytest
import tensorflow as tf

from tfface.data import datasets
from tfface.data import schema
from tfface.data import synthetic
from tfface.rendering import face_renderer
from tfface.rendering import lighting
from tfface.rendering import procedural_model

SIZE = 16
OPTIONS = {"resolution": 1}


@pytest.fixture(scope="module")
def model():
  return procedural_model.ProceduralFaceModel(**OPTIONS)


def _write(directory, num=5, **kwargs):
  settings = dict(image_size=SIZE, examples_per_shard=3, batch_size=3,
                  model_options=OPTIONS, show_progress=False)
  settings.update(kwargs)
  return synthetic.write_synthetic_dataset(str(directory), num, **settings)


def _shard_bytes(directory, mode="synthetic"):
  paths = sorted(glob.glob(os.path.join(str(directory), f"{mode}-*")))
  return [open(p, "rb").read() for p in paths]


def test_factor_sizes_are_the_model_groups_plus_scene(model):
  sizes = synthetic.synthetic_factor_sizes(model)
  assert list(sizes)[:len(model.parameter_sizes)] == list(
      model.parameter_sizes)
  assert list(sizes)[len(model.parameter_sizes):] == ["pose", "sh",
                                                      "background"]
  assert (sizes["pose"], sizes["sh"], sizes["background"]) == (3, 27, 3)


def test_round_trip_preserves_factors_and_renders(tmp_path, model):
  info = _write(tmp_path, num=5, seed=11)
  assert len(info["shards"]) == 2 and info["written_shards"] == info["shards"]
  # Only final shards and the info file: no temporary files left behind.
  assert sorted(os.listdir(tmp_path)) == [
      "synthetic-00000-of-00002.tfrecord", "synthetic-00001-of-00002.tfrecord",
      "synthetic_info.json"]
  ds = datasets.synthetic_dataset(str(tmp_path / "synthetic-*"), SIZE,
                                  shuffle=False, repeat=False)
  elements = list(ds.as_numpy_iterator())
  assert len(elements) == 5

  # Factors: exactly what each example's own generator samples.
  expected = [synthetic.sample_factors(
      synthetic.example_rng(11, "synthetic", i), model) for i in range(5)]
  for element, factors in zip(elements, expected):
    assert list(element["factors"]) == list(
        synthetic.synthetic_factor_sizes(model))
    for name, value in factors.items():
      np.testing.assert_array_equal(element["factors"][name], value)

  # Images, iris masks and landmarks: an independent render of those
  # factors, up to PNG quantization.
  renderer = face_renderer.FaceRenderer(
      model, SIZE, camera=synthetic.dataset_camera((SIZE, SIZE)))
  params = {name: tf.constant(np.stack([f[name] for f in expected]))
            for name in expected[0]}
  params["translation"] = tf.zeros([5, 3])
  out = renderer.render(params)
  images = np.stack([e["image"] for e in elements])
  np.testing.assert_allclose(images, out["image"].numpy(), atol=0.5 / 127.5
                             + 1e-5)
  iris = np.clip(out["regions"]["iris_left"] + out["regions"]["iris_right"],
                 0, 1)
  np.testing.assert_allclose(np.stack([e["iris_mask"] for e in elements]),
                             iris, atol=0.5 / 255 + 1e-5)
  np.testing.assert_allclose(np.stack([e["landmarks"] for e in elements]),
                             out["landmarks"].numpy(), atol=1e-4)
  # The faces are not blank: a visible head with both irises somewhere.
  assert (images.std(axis=(1, 2, 3)) > 0.05).all()


def test_same_seed_same_bytes_other_seed_differs(tmp_path):
  first = _write(tmp_path / "a", num=4, seed=5)
  _write(tmp_path / "b", num=4, seed=5)
  _write(tmp_path / "c", num=4, seed=6)
  a, b, c = (_shard_bytes(tmp_path / d) for d in "abc")
  assert len(a) == 2 and a == b
  assert all(x != y for x, y in zip(a, c))
  # The info file holds no time stamps either.
  assert (open(tmp_path / "a" / "synthetic_info.json").read() ==
          open(tmp_path / "b" / "synthetic_info.json").read())
  assert first["seed"] == 5 and first["num_examples"] == 4


def test_failure_mid_run_leaves_no_partial_shard_and_resumes(tmp_path,
                                                             monkeypatch):
  original = synthetic._ExampleMaker.records
  calls = []

  def failing(self, indices):
    calls.append(list(indices))
    if len(calls) == 3:  # the second batch of the second shard
      raise RuntimeError("simulated crash")
    return original(self, indices)

  monkeypatch.setattr(synthetic._ExampleMaker, "records", failing)
  with pytest.raises(RuntimeError, match="simulated crash"):
    _write(tmp_path / "run", num=8, seed=2, examples_per_shard=4,
           batch_size=2)
  names = sorted(os.listdir(tmp_path / "run"))
  assert names == ["synthetic-00000-of-00002.tfrecord", "synthetic_info.json"]
  finished = tmp_path / "run" / names[0]
  assert sum(1 for _ in tf.data.TFRecordDataset(str(finished))) == 4
  stamp = os.stat(finished).st_mtime_ns

  monkeypatch.setattr(synthetic._ExampleMaker, "records", original)
  info = _write(tmp_path / "run", num=8, seed=2, examples_per_shard=4,
                batch_size=2)
  assert [os.path.basename(p) for p in info["written_shards"]] == [
      "synthetic-00001-of-00002.tfrecord"]
  assert os.stat(finished).st_mtime_ns == stamp
  _write(tmp_path / "fresh", num=8, seed=2, examples_per_shard=4, batch_size=2)
  assert _shard_bytes(tmp_path / "run") == _shard_bytes(tmp_path / "fresh")

  # Other settings on an existing dataset: a clear error unless overwrite.
  with pytest.raises(ValueError, match="other settings"):
    _write(tmp_path / "run", num=8, seed=3, examples_per_shard=4,
           batch_size=2)
  info = _write(tmp_path / "run", num=2, seed=3, overwrite=True)
  assert sorted(os.listdir(tmp_path / "run")) == [
      "synthetic-00000-of-00001.tfrecord", "synthetic_info.json"]


def test_pseudo_real_has_another_style_and_no_labels(tmp_path):
  _write(tmp_path, num=6, seed=0, image_size=32)
  _write(tmp_path, num=6, seed=0, image_size=32, mode="pseudo_real")
  records = [r.numpy() for r in tf.data.TFRecordDataset(
      glob.glob(str(tmp_path / "pseudo_real-*")))]
  assert len(records) == 6
  for record in records:
    keys = set(tf.train.Example.FromString(record).features.feature)
    assert keys == {"image", "height", "width", "domain"}
    assert schema.parse_layout(record).domain == "pseudo_real"
  real = [e["image"] for e in datasets.pseudo_real_dataset(
      str(tmp_path / "pseudo_real-*"), 32, shuffle=False, repeat=False)]
  synth = [e["image"] for e in datasets.synthetic_dataset(
      str(tmp_path / "synthetic-*"), 32, shuffle=False, repeat=False)]
  # Backgrounds: uniform colour in the labeled domain, textured in the
  # pseudo-real one (the 6x6 corners hold no face at the default zoom).
  def corner_std(image):
    return np.mean([image[:6, :6].std(axis=(0, 1)).mean(),
                    image[:6, -6:].std(axis=(0, 1)).mean()])
  assert max(corner_std(x.numpy()) for x in synth) < 1e-6
  assert min(corner_std(x.numpy()) for x in real) > 0.01
  # The same example index renders to a different picture in each domain.
  for x, y in zip(synth, real):
    assert np.abs(x.numpy() - y.numpy()).mean() > 0.05


def test_sampled_factor_ranges(model):
  config = synthetic.SamplingConfig()
  samples = [synthetic.sample_factors(synthetic.example_rng(0, "synthetic", i),
                                      model, "synthetic", config)
             for i in range(300)]
  pose = np.stack([s["pose"] for s in samples])
  assert np.abs(pose[:, 1]).max() <= np.radians(30.0) + 1e-7
  assert np.abs(pose[:, 1]).max() > np.radians(25.0)  # the range is used
  assert np.abs(pose[:, 0]).max() <= np.radians(10.0) + 1e-7
  assert (pose[:, 2] == 0).all()
  expression = np.stack([s["expression"] for s in samples])
  assert expression.min() >= 0.0 and expression.max() <= 1.0
  assert (expression == 0).mean() > 0.8  # sparse
  assert (expression.max(axis=1) > 0.5).mean() > 0.4  # but used
  gaze = np.stack([s["gaze"] for s in samples])
  assert np.abs(gaze[:, 0]).max() <= np.radians(15) + 1e-6
  assert np.abs(gaze[:, 1]).max() <= np.radians(25) + 1e-6
  for name in ("hair_color", "hair_style", "beard_color", "beard_style"):
    values = np.stack([s[name] for s in samples])
    assert values.min() >= 0.0 and values.max() <= 1.0, name
  beard = np.stack([s["beard_style"] for s in samples])[:, 0]
  assert 0.3 < (beard == 0).mean() < 0.8
  identity = np.stack([s["identity"] for s in samples])
  assert 0.8 < identity.std() < 1.1 and np.abs(identity).max() <= 2.5
  background = np.stack([s["background"] for s in samples])
  assert np.abs(background).max() <= 1.0

  wide = synthetic.SamplingConfig(max_yaw_degrees=10.0, max_roll_degrees=5.0)
  pose = np.stack([synthetic.sample_pose(np.random.default_rng(i), wide)
                   for i in range(100)])
  assert np.abs(pose[:, 1]).max() <= np.radians(10.0) + 1e-7
  assert 0 < np.abs(pose[:, 2]).max() <= np.radians(5.0) + 1e-7
  with pytest.raises(ValueError, match="max_yaw_degrees"):
    _write("/nonexistent-never-created", num=1, max_yaw_degrees=120.0)


def test_sh_lights_match_the_renderer_shading():
  direction = np.array([0.3, 0.2, 1.0]) / np.linalg.norm([0.3, 0.2, 1.0])
  sh = synthetic.sh_coefficients([0.5, 0.4, 0.3], direction[None],
                                 np.array([[0.4, 0.4, 0.4]]))
  normals = np.stack([direction, -direction])[None].astype(np.float32)
  irradiance = lighting.sh_irradiance(normals, sh[None]).numpy()[0]
  # Second-order SH of a clamped cosine: 1.0625 toward the light, 0.0625
  # away from it.
  np.testing.assert_allclose(irradiance[0], [0.5 + 0.425, 0.4 + 0.425,
                                             0.3 + 0.425], atol=1e-5)
  np.testing.assert_allclose(irradiance[1], [0.525, 0.425, 0.325], atol=1e-5)

  front = np.array([[[0.0, 0.0, 1.0]]], np.float32)
  for i in range(50):
    sh = synthetic.sample_sh(np.random.default_rng(i), "synthetic")
    e = lighting.sh_irradiance(front, sh[None]).numpy()[0, 0]
    assert 0.6 < e.mean() < 1.4 and e.max() / e.min() < 1.15  # white, lit
  # Pseudo-real lights carry more energy in the second band.
  band2 = lambda mode: np.mean([np.abs(synthetic.sample_sh(
      np.random.default_rng(i), mode).reshape(3, 9)[:, 4:]).mean()
                                for i in range(50)])
  assert band2("pseudo_real") > 2 * band2("synthetic")


def test_preview_rows_each_vary_only_their_own_factor(model):
  rows = synthetic.preview_factors(model, num_columns=4)
  assert len(rows) == len(synthetic.PREVIEW_ROWS)
  own = {"identity": {"identity"}, "albedo": {"albedo"},
         "jawOpen": {"expression"}, "smile": {"expression"},
         "blink": {"expression"}, "yaw": {"pose"}, "pitch": {"pose"},
         "illumination": {"sh"}, "hair_color": {"hair_color"},
         "hair_style": {"hair_style"}, "beard": {"beard_style"},
         "gaze": {"gaze"}, "background": {"background"}}
  base = rows[synthetic.PREVIEW_ROWS.index("jawOpen")][0]  # jawOpen = 0
  for name, row in zip(synthetic.PREVIEW_ROWS, rows):
    varying = {k for k in base
               if any(not np.array_equal(f[k], row[0][k]) for f in row)}
    assert varying == own[name], name
    differs = {k for k in base if not np.array_equal(row[0][k], base[k])}
    assert differs <= own[name], name
  names = model.expression_names
  smile = np.stack([f["expression"] for f in
                    rows[synthetic.PREVIEW_ROWS.index("smile")]])
  active = set(np.flatnonzero(smile.max(axis=0)))
  assert {names[i] for i in active} == {"mouthSmileLeft", "mouthSmileRight"}


def test_preview_grid_shape_and_background_row():
  grid = synthetic.preview_grid(image_size=SIZE, num_columns=3,
                                model_options=OPTIONS)
  assert grid.shape == (len(synthetic.PREVIEW_ROWS) * SIZE, 3 * SIZE, 3)
  assert grid.dtype == np.uint8
  row = synthetic.PREVIEW_ROWS.index("background")
  cells = [grid[row * SIZE:(row + 1) * SIZE, c * SIZE:(c + 1) * SIZE]
           .astype(int) for c in range(3)]
  # Corners change with the background; the centre (the face) does not.
  assert np.abs(cells[0][0, 0] - cells[1][0, 0]).max() > 40
  centre = slice(SIZE // 2 - 2, SIZE // 2 + 2)
  np.testing.assert_array_equal(cells[0][centre, centre],
                                cells[1][centre, centre])


def test_textured_skin_changes_only_skin_albedo(model):
  textured = synthetic.TexturedSkinModel(model, num_waves=16)
  sizes = textured.parameter_sizes
  assert sizes["skin_texture"] == 32
  assert list(sizes)[:-1] == list(model.parameter_sizes)
  params = textured.default_parameters(2)
  rng = np.random.default_rng(0)
  params["skin_texture"] = tf.constant(rng.normal(0, 0.05, (2, 32)),
                                       tf.float32)
  base_albedo = model.albedo(params).numpy()
  albedo = textured.albedo(params).numpy()
  np.testing.assert_array_equal(textured.vertices(params).numpy(),
                                model.vertices(params).numpy())
  regions = model.region_weights()
  ratio = albedo / np.maximum(base_albedo, 1e-6)
  skin = regions["skin"] > 0.99
  # ~5% multiplicative noise on skin, none on the irises.
  assert 0.02 < ratio[:, skin].std() < 0.1
  iris = (regions["iris_left"] + regions["iris_right"]) > 0.5
  np.testing.assert_allclose(albedo[:, iris], base_albedo[:, iris], atol=1e-6)
  # The two faces get different textures.
  assert np.abs(ratio[0, skin] - ratio[1, skin]).mean() > 0.01


def test_expression_focus_switches_on_its_expressions_only(model):
  names = list(model.expression_names)
  jaw, smile = names.index("jawOpen"), [names.index("mouthSmileLeft"),
                                        names.index("mouthSmileRight")]

  def sample(config, count=200):
    return np.stack([synthetic.sample_factors(
        synthetic.example_rng(0, "synthetic", i), model, "synthetic",
        config)["expression"] for i in range(count)])

  plain = sample(synthetic.SamplingConfig())
  focused = sample(synthetic.SamplingConfig(
      expression_focus=("jawOpen", "mouthSmile"),
      expression_focus_probability=0.5))
  assert (plain[:, jaw] > 0).mean() < 0.2
  assert 0.4 < (focused[:, jaw] >= 0.3).mean() < 0.75
  # A stem means the pair, switched on together.
  both = (focused[:, smile] >= 0.3).all(1)
  assert 0.4 < both.mean() < 0.75
  # Everything else is drawn exactly as without focus.
  others = [i for i in range(len(names)) if i != jaw and i not in smile]
  np.testing.assert_array_equal(plain[:, others], focused[:, others])
  assert focused.max() <= 1.0
  with pytest.raises(ValueError, match="unknown expression 'grin'"):
    synthetic.focus_units(names, ["grin"])
  with pytest.raises(ValueError, match="expression_focus_probability"):
    synthetic.SamplingConfig(expression_focus_probability=1.5).check()
  with pytest.raises(ValueError, match="unknown expression"):
    _write("/nonexistent-never-created", num=1, expression_focus=["grin"],
           expression_focus_probability=0.5)


def test_read_info_finds_the_settings_from_a_glob(tmp_path):
  _write(tmp_path, num=2, zoom=0.9, expression_focus=["jawOpen"],
         expression_focus_probability=0.25)
  pattern = str(tmp_path / "synthetic-*-of-*.tfrecord")
  for where in (pattern, str(tmp_path)):
    info = synthetic.read_info(where)
    assert info["zoom"] == 0.9
    assert info["sampling"]["expression_focus"] == ["jawOpen"]
  assert synthetic.read_info(str(tmp_path), "pseudo_real") is None


def test_each_preview_expression_moves_its_landmarks_visibly_at_64px():
  """At make demo's 64 px framing (zoom 1) each expression row's full value
  moves its landmarks by pixels a generator can see: the smile widens the
  mouth by a fifth and lifts its corners (the first smile moved them 1.65
  px and was never learned), jawOpen drops the lower lip, blink closes the
  lids."""
  size = (64, 64)
  # pylint: disable=protected-access
  render = synthetic._cached_renderer(size, 2, "tf", 1.0, ())
  rows = synthetic.preview_factors(render.model, 2)

  def landmarks(row):
    faces = rows[synthetic.PREVIEW_ROWS.index(row)]
    backgrounds = np.zeros([2, 64, 64, 3], np.float32)
    return np.asarray(render(faces, np.zeros([2, 3], np.float32),
                             backgrounds)["landmarks"])

  smile = landmarks("smile")
  width = np.linalg.norm(smile[:, 48] - smile[:, 54], axis=-1)
  assert width[1] > 1.2 * width[0]
  lift = smile[0, [48, 54], 1] - smile[1, [48, 54], 1]  # image y is down
  assert (lift > 2.0).all(), lift
  jaw = landmarks("jawOpen")
  assert jaw[1, 57, 1] - jaw[0, 57, 1] > 4.0
  blink = landmarks("blink")
  lids = blink[:, [37, 38, 43, 44], 1] - blink[:, [41, 40, 47, 46], 1]
  assert (np.abs(lids[1]) < 0.5 * np.abs(lids[0])).all(), lids
