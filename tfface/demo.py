r"""``make demo``: ConfigNet trained end to end on the CPU, in under 20 minutes.

The library half of ``tools/demo.py`` (``python tools/demo.py
--output_dir=demo_out [--vgg19_weights=FILE] [--tiny]``): :func:`run_demo`
and its steps. It reads no flags.

Steps (everything lands under ``output_dir``):
  1. Renders the labeled synthetic dataset and its unlabeled pseudo-real
     domain at the training resolution with the procedural face model
     (``data/``), plus a small held-out synthetic set (``data/heldout/``).
  2. Trains ConfigNet stage 1 (``runs/stage1``) and stage 2 (``runs/stage2``,
     initialized from stage 1) with a progress line, then the latent GAN on
     E_R embeddings (``runs/latent_gan``). TensorBoard logs are in each run's
     ``train/``.
  3. Exports the SavedModel (``export/<version>``).
  4. Writes ``controls.png``: one row per control (yaw, pitch, jawOpen,
     mouthSmile, illumination, hair colour, gaze), one factor sweeping while
     everything else holds.
  5. Measures control on the held-out faces against the renderer (what
     ``tools/evaluate.py confignet`` measures, on the same default number of
     faces) into ``control.json`` and prints the main numbers. When the
     face-analysis nets of ``make pretrained`` are in
     ``DemoSettings.analysis_dir`` (``reconstruction.npz``,
     ``landmarks.npz``), yaw, pitch and the expression sweeps are also
     measured on a continuous scale with them
     (:mod:`tfface.metrics.analysis_meters`); a missing file skips its
     figures with a line saying so.

Where the settings live. The training recipe -- resolution, network sizes,
optimizer, loss weights, warm-up, EMA, perceptual loss, E_R backbone, batch,
steps and seed -- is ``gin/confignet/cpu_demo.gin`` (``--tiny``:
``gin/confignet/demo_tiny.gin``, which includes it), parsed with
:func:`tfface.config.parse_config`; the demo builds its method objects under
that config, so ``tools/train.py`` and the demo share one copy of every value.
:class:`DemoSettings` holds only what no configurable reads: the datasets the
demo renders, the held-out set, the latent-GAN steps and the control sheet.

Perceptual loss: with ``vgg19_weights`` (a Keras VGG-19 no-top weights
file) the real VGG-19 loss is used, by gin bindings layered over the file
(:func:`vgg_bindings`). Without it (machines without internet have none) the
demo says so and uses the documented fallback: a pixel L1 term plus the
VGG-19 feature loss on a random-weight VGG-19 of 1/8 width.

The CPU settings shrink the reference networks (channels, a 16³ learned
constant instead of 4³ (30% faster, same quality), a small E_R backbone
instead of ResNet-50, R1 on the summed discriminator logits) and, because the
demo trains ~4400 steps instead of 2×50k, use faster optimizer settings (Adam
2e-3, β = (0.5, 0.99)), EMA decay 0.99, and let the supervised terms lead
(GAN ×0.1, latent regression 1, domain-adversarial 1). What makes the jaw,
blinks and gaze learnable within minutes (measured; numbers in the README's
``make demo`` section):
  * the data is framed forehead to chin (zoom 1) and switches jawOpen,
    mouthSmile and eyeBlink on in half the faces each (held-out data keeps
    the default sparse expressions);
  * masked L1 losses on boxes around the mouth and the eye landmarks
    (weight 40 each), warmed up over stage-1 steps 500–1500: from step 0 they
    paint mouth colour everywhere, before G knows where the face is.
cpu_demo.gin's comments give the reference values.
"""

import dataclasses
import inspect
import json
import math
import os
import time
from typing import Dict, List, Optional, Sequence

import gin
import numpy as np

from tfface import config as config_lib

ROWS = ("yaw", "pitch", "jawOpen", "mouthSmile", "illumination",
        "hair colour", "gaze")

_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GIN_DIR = os.path.join(_REPO_ROOT, "gin", "confignet")
# Where ``make pretrained`` writes the face-analysis nets the demo measures
# with: the files tools/evaluate.py confignet reads by default when run from
# the repository root.
DEFAULT_ANALYSIS_DIR = os.path.join(_REPO_ROOT, "pretrained")
# The training recipe of ``make demo`` (also a tools/train.py config).
CPU_DEMO_GIN = os.path.join(GIN_DIR, "cpu_demo.gin")
# cpu_demo.gin shrunk to seconds (tests, ``--tiny``).
TINY_DEMO_GIN = os.path.join(GIN_DIR, "demo_tiny.gin")
# The macro of cpu_demo.gin that holds the stage-2 steps (stage 1's are
# ``train.max_steps``).
STAGE2_STEPS_MACRO = "STAGE2_STEPS"


@dataclasses.dataclass
class DemoSettings:
  """What the demo does besides training (the defaults are ``make demo``'s).

  The training settings are not here but in the gin file ``gin_file``. These
  stay in Python because no configurable takes them: binding them in
  cpu_demo.gin would make it unusable for tools/train.py (gin rejects
  bindings of unknown configurables), and a second, demo-only gin file would
  split the demo's configuration over two files per mode for no reader's
  benefit.
  """
  gin_file: str = CPU_DEMO_GIN
  num_synthetic: int = 2000
  num_pseudo_real: int = 1000
  # Held-out faces measured into control.json: tools/evaluate.py
  # confignet's default count, so both give comparable numbers.
  num_heldout: int = dataclasses.field(
      default_factory=lambda: _evaluation().DEFAULT_NUM_FACES)
  render_batch: int = 32
  # Camera zoom of the rendered data: 1 frames forehead to chin (the
  # dataset default 0.75 shows the whole head), so the mouth is larger.
  zoom: float = 1.0
  # Training data switches these expressions on more often than the sparse
  # default sampling (held-out data keeps the default).
  expression_focus: tuple = ("jawOpen", "mouthSmile", "eyeBlink")
  expression_focus_probability: float = 0.5
  latent_gan_steps: int = 400
  columns: int = 7
  # The face-analysis nets' directory (reconstruction.npz, landmarks.npz);
  # '' = measure without them.
  analysis_dir: str = DEFAULT_ANALYSIS_DIR


def _evaluation():
  from tfface.methods.confignet import evaluation  # pylint: disable=g-import-not-at-top
  return evaluation


def tiny_settings() -> DemoSettings:
  """Seconds-long settings that still run every step of the demo (without
  the analysis nets: tests never read the pretrained bundle)."""
  return DemoSettings(gin_file=TINY_DEMO_GIN, num_synthetic=8,
                      num_pseudo_real=8, num_heldout=4, render_batch=8,
                      latent_gan_steps=2, columns=3, analysis_dir="")


@dataclasses.dataclass(frozen=True)
class Schedule:
  """The training schedule of the parsed gin config.

  ``batch_size``, ``stage1_steps``, ``log_every``, ``summary_every``,
  ``image_every`` and ``seed`` are the ``train.*`` bindings (``train``'s
  defaults where unbound); ``stage2_steps`` is the ``STAGE2_STEPS`` macro.
  """
  batch_size: int
  stage1_steps: int
  stage2_steps: int
  log_every: int
  summary_every: int
  image_every: int
  seed: int


def _train_setting(name: str):
  """``train.<name>`` as bound in the parsed config, else train's default."""
  try:
    return config_lib.resolve_macros(gin.query_parameter(f"train.{name}"))
  except ValueError:
    from tfface.training import train_lib  # pylint: disable=g-import-not-at-top
    return inspect.signature(train_lib.train).parameters[name].default


def read_schedule() -> Schedule:
  """The :class:`Schedule` of the parsed config.

  Raises:
    ValueError: the config defines no ``STAGE2_STEPS`` macro.
  """
  try:
    stage2_steps = config_lib.resolve_macros(
        gin.query_parameter("%" + STAGE2_STEPS_MACRO))
  except ValueError as e:
    raise ValueError(
        f"the demo's gin config defines no {STAGE2_STEPS_MACRO} macro; "
        f"expected '{STAGE2_STEPS_MACRO} = <stage-2 steps>' as in "
        "gin/confignet/cpu_demo.gin") from e
  return Schedule(
      batch_size=int(_train_setting("global_batch_size")),
      stage1_steps=int(_train_setting("max_steps")),
      stage2_steps=int(stage2_steps),
      log_every=int(_train_setting("log_every")),
      summary_every=int(_train_setting("summary_every")),
      image_every=int(_train_setting("image_every")),
      seed=int(_train_setting("seed")))


def vgg_bindings(vgg19_weights: Optional[str]) -> List[str]:
  """gin bindings that switch both stages to the real VGG-19 loss.

  With a weights file: full-width VGG-19 and no pixel L1 term (the fallback's
  other half). Bound on both stages so that a gin file with its own
  ``ConfigNetStage2`` perceptual bindings is overridden too. None: none.
  """
  if not vgg19_weights:
    return []
  return [binding
          for stage in ("ConfigNetStage1", "ConfigNetStage2")
          for binding in (f"{stage}.vgg_weights_path = {str(vgg19_weights)!r}",
                          f"{stage}.vgg_width = 1.0",
                          f"{stage}.pixel_l1_weight = 0.0")]


def parse_demo_config(gin_file: str = CPU_DEMO_GIN,
                      vgg19_weights: Optional[str] = None,
                      gin_params: Sequence[str] = ()) -> None:
  """Clears gin, then parses ``gin_file``, :func:`vgg_bindings` and
  ``gin_params`` (in that order, so ``gin_params`` win).

  Raises:
    tfface.config.ConfigError: a missing or invalid file or binding.
  """
  from tfface import config  # pylint: disable=g-import-not-at-top
  gin.clear_config()
  config.parse_config([gin_file],
                      vgg_bindings(vgg19_weights) + list(gin_params),
                      finalize=False)


def build_stages(stage1_dir: Optional[str] = None):
  """Stage 1 and stage 2 as the parsed config makes them.

  Args:
    stage1_dir: the stage-1 run that initializes stage 2 (read when stage 2
      is built, i.e. when its training starts).

  Returns:
    ``(ConfigNetStage1, ConfigNetStage2)``, not built yet.
  """
  from tfface.methods.confignet import trainer  # pylint: disable=g-import-not-at-top
  return (trainer.ConfigNetStage1(),
          trainer.ConfigNetStage2(init_checkpoint=stage1_dir))


def _say(message: str) -> None:
  print(f"[demo] {message}", flush=True)


def make_data(output_dir: str, s: DemoSettings, image_size: int,
              seed: int) -> Dict[str, str]:
  """Renders the three datasets at ``image_size`` px (resumes complete
  shards); returns their globs. Held-out faces use ``seed + 1000``."""
  from tfface.data import sharded_writer  # pylint: disable=g-import-not-at-top
  from tfface.data import synthetic  # pylint: disable=g-import-not-at-top
  data_dir = os.path.join(output_dir, "data")
  heldout_dir = os.path.join(data_dir, "heldout")
  focus = (tuple(s.expression_focus), s.expression_focus_probability)
  jobs = (("synthetic", data_dir, s.num_synthetic, seed, focus),
          ("pseudo_real", data_dir, s.num_pseudo_real, seed, focus),
          ("synthetic", heldout_dir, s.num_heldout, seed + 1000, ((), 0.0)))
  for mode, directory, count, job_seed, (names, probability) in jobs:
    _say(f"rendering {count} {mode} faces at {image_size} px -> {directory}")
    synthetic.write_synthetic_dataset(
        directory, count, image_size, mode=mode, seed=job_seed,
        batch_size=min(s.render_batch, count), zoom=s.zoom,
        expression_focus=names, expression_focus_probability=probability,
        show_progress=True)
  return {"synthetic": sharded_writer.shard_pattern(data_dir, "synthetic"),
          "pseudo_real": sharded_writer.shard_pattern(data_dir, "pseudo_real"),
          "heldout": sharded_writer.shard_pattern(heldout_dir, "synthetic")}


def heldout_faces(pattern: str, image_size: int, count: int):
  """The first ``count`` held-out synthetic faces as numpy arrays."""
  from tfface.data import datasets  # pylint: disable=g-import-not-at-top
  ds = datasets.synthetic_dataset(pattern, image_size, batch_size=count,
                                  shuffle=False, repeat=False)
  batch = next(iter(ds))
  return {"image": batch["image"].numpy(),
          "factors": {k: v.numpy() for k, v in batch["factors"].items()}}


def control_rows(controller, base: Dict[str, np.ndarray],
                 expression_names, columns: int) -> Dict[str, np.ndarray]:
  """Images `[columns, R, R, 3]` per control row; all else held at ``base``.

  ``base`` holds every factor as `[1, n]` (its expression set neutral).
  """
  from tfface.data import synthetic  # pylint: disable=g-import-not-at-top
  from tfface.methods.confignet import control  # pylint: disable=g-import-not-at-top
  n = columns
  table = controller.table

  def theta_rows(name, values):
    theta = {k: np.repeat(v, n, 0) for k, v in base.items()}
    theta[name] = np.asarray(values, np.float32)
    return theta

  def render(theta, pose=None):
    latent = {k: theta[k] for k in table.names}
    z = controller.encode_factors(latent)
    pose = np.zeros([n, 3], np.float32) if pose is None else pose
    return controller.generate(z, pose).numpy()

  rows = {}
  lin = np.linspace(-1.0, 1.0, n).astype(np.float32)
  yaw = np.stack([0 * lin, lin * math.radians(30), 0 * lin], 1)
  pitch = np.stack([lin * math.radians(10), 0 * lin, 0 * lin], 1)
  rows["yaw"] = render(theta_rows("pose", yaw), yaw)
  rows["pitch"] = render(theta_rows("pose", pitch), pitch)
  names = list(expression_names)
  expr = np.repeat(base["expression"], n, 0)
  jaw = expr.copy()
  jaw[:, names.index("jawOpen")] = np.linspace(0, 1, n)
  rows["jawOpen"] = render(theta_rows("expression", jaw))
  smile = expr.copy()
  for key in ("mouthSmileLeft", "mouthSmileRight"):
    smile[:, names.index(key)] = np.linspace(0, 1, n)
  rows["mouthSmile"] = render(theta_rows("expression", smile))
  # A white key light moving from the face's right to its left.
  sh = np.stack([synthetic.sh_coefficients(
      np.full(3, 0.55), synthetic._unit(np.array([[x, 0.2, 1.0]])),  # pylint: disable=protected-access
      np.full([1, 3], 0.5)) for x in np.linspace(-0.8, 0.8, n)])
  rows["illumination"] = render(theta_rows("sh", sh))
  dark, blond = synthetic.HAIR_PALETTE[0], synthetic.HAIR_PALETTE[7]
  rows["hair colour"] = render(theta_rows(
      "hair_color", control.interpolate(dark, blond, n)))
  gaze = np.repeat(base["gaze"], n, 0)
  gaze[:, 0] = 0.0
  gaze[:, 1] = lin * math.radians(25)
  rows["gaze"] = render(theta_rows("gaze", gaze))
  return rows


def measure_control(controller, faces, zoom: float, path: str,
                    analysis_dir: str = "") -> Dict:
  """``tools/evaluate.py confignet``'s numbers for the trained networks on
  the held-out faces, written to ``path`` as JSON (atomically).

  With ``analysis_dir`` holding ``reconstruction.npz`` / ``landmarks.npz``
  also the continuous pose and expression figures
  (:mod:`tfface.metrics.analysis_meters`); a missing file is skipped with
  a line saying so.
  """
  from tfface.metrics import analysis_meters  # pylint: disable=g-import-not-at-top
  from tfface.metrics import controllability  # pylint: disable=g-import-not-at-top
  table = controller.table
  meters = None
  if analysis_dir:
    files = analysis_meters.bundle_meter_paths(analysis_dir)
    meters = analysis_meters.load_meters(
        files["reconstruction"], files["landmarks"], image_zoom=zoom,
        log=_say)

  def encode(theta):
    return controller.encode_factors(
        {k: theta[k] for k in table.names}).numpy()

  def generate(z, rotation):
    return controller.generate(z, np.asarray(rotation, np.float32)).numpy()

  truth = controllability.TruthRenderer(faces["image"].shape[1], zoom)
  result = controllability.evaluate_control(
      encode, generate, faces["factors"], faces["image"], truth=truth,
      factor_names=[n for n in table.names
                    if n in controllability.FACTOR_REGIONS], meters=meters)
  with open(path + ".tmp", "w") as f:
    json.dump(result, f, indent=2)
  os.replace(path + ".tmp", path)
  return result


def write_sheet(rows: Dict[str, np.ndarray], path: str, scale: int = 2) -> None:
  """Rows of faces with their labels on the left, as a PNG (atomic).

  Args:
    rows: label -> `[n, R, R, 3]` images in [-1, 1] (same n and R per row).
    path: the PNG to write.
    scale: nearest-neighbour magnification of every face.
  """
  from tfface.data import schema  # pylint: disable=g-import-not-at-top
  from tfface.visualization import text  # pylint: disable=g-import-not-at-top
  strips = []
  for batch in rows.values():
    pixels = np.clip((np.asarray(batch) + 1.0) * 127.5, 0, 255).astype(
        np.uint8)
    pixels = np.repeat(np.repeat(pixels, scale, axis=1), scale, axis=2)
    strips.append(np.concatenate(list(pixels), axis=1))
  sheet = text.label_rows(np.concatenate(strips, axis=0), list(rows))
  tmp = path + ".tmp.png"
  with open(tmp, "wb") as f:
    f.write(schema.encode_png(sheet))
  os.replace(tmp, path)


def run_demo(output_dir: str, settings: Optional[DemoSettings] = None,
             vgg19_weights: Optional[str] = None,
             gin_params: Sequence[str] = ()) -> Dict[str, str]:
  """Runs the whole demo; returns the paths it wrote (also printed).

  Args:
    output_dir: where everything is written.
    settings: the demo's own settings and its gin file (default
      :class:`DemoSettings`: ``make demo``).
    vgg19_weights: Keras VGG-19 no-top weights file for the perceptual loss;
      None uses the fallback.
    gin_params: gin bindings applied over ``settings.gin_file``.

  The demo owns gin's global config while it runs: it clears it, parses its
  own, and clears it again when it returns or fails.

  Raises:
    tfface.config.ConfigError: the gin file or a binding is missing or
      invalid, or the methods cannot be built from them (one line, before
      anything is written).
  """
  s = settings or DemoSettings()
  try:
    parse_demo_config(s.gin_file, vgg19_weights, gin_params)
    return _run_demo(output_dir, s)
  finally:
    gin.clear_config()


def _configured(s: DemoSettings, runs: str):
  """The stages, the schedule, from the parsed config (ConfigError if bad)."""
  from tfface import config  # pylint: disable=g-import-not-at-top
  try:
    stage1, stage2 = build_stages(os.path.join(runs, "stage1"))
    return stage1, stage2, read_schedule()
  except ValueError as e:
    # Constructor checks (gin appends its call chain on further lines).
    raise config.ConfigError(
        f"gin file {s.gin_file!r} does not configure the demo: "
        f"{str(e).splitlines()[0]}") from e


def _run_demo(output_dir: str, s: DemoSettings) -> Dict[str, str]:
  """:func:`run_demo` under its parsed gin config."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from tfface.methods.confignet import control  # pylint: disable=g-import-not-at-top
  from tfface.data import sources as data_sources  # pylint: disable=g-import-not-at-top
  from tfface.export import serving_config  # pylint: disable=g-import-not-at-top
  from tfface.methods.confignet import data as cn_data  # pylint: disable=g-import-not-at-top
  from tfface.methods.confignet import evaluation as cn_evaluation  # pylint: disable=g-import-not-at-top
  from tfface.methods.confignet import export as cn_export  # pylint: disable=g-import-not-at-top
  from tfface.methods.confignet import trainer  # pylint: disable=g-import-not-at-top
  from tfface.rendering import procedural_model  # pylint: disable=g-import-not-at-top
  from tfface.training import loop  # pylint: disable=g-import-not-at-top

  runs = os.path.join(output_dir, "runs")
  stage1, stage2, schedule = _configured(s, runs)
  resolution = stage1.resolution
  start = time.monotonic()
  os.makedirs(output_dir, exist_ok=True)
  if stage1.vgg_weights_path:
    _say(f"perceptual loss: VGG-19 weights from {stage1.vgg_weights_path}")
  else:
    _say("no VGG-19 weights file configured (--vgg19_weights): using the "
         "fallback perceptual loss, pixel L1 + random-feature VGG-19 "
         f"(width {stage1.vgg_width:g}).")
  patterns = make_data(output_dir, s, resolution, schedule.seed)
  _say(f"data ready after {time.monotonic() - start:.0f}s")

  def dataset(batch):
    return cn_data.confignet_dataset(
        batch, synthetic_pattern=patterns["synthetic"],
        real_source=patterns["pseudo_real"], image_size=resolution,
        seed=schedule.seed)

  def loop_config(steps):
    # One checkpoint per stage, at its end (train.checkpoint_every is for
    # tools/train.py runs, which may be interrupted and resumed).
    return loop.LoopConfig(
        max_steps=steps, checkpoint_every=max(steps, 1),
        image_every=schedule.image_every, log_every=schedule.log_every,
        summary_every=schedule.summary_every, seed=schedule.seed)

  _say(f"stage 1: {schedule.stage1_steps} steps, batch {schedule.batch_size} "
       "(half synthetic, half pseudo-real)")
  loop.run_training(stage1, dataset(schedule.batch_size),
                    os.path.join(runs, "stage1"),
                    loop_config(schedule.stage1_steps))
  _say(f"stage 1 done after {time.monotonic() - start:.0f}s")
  _say(f"stage 2: {schedule.stage2_steps} steps, initialized from stage 1")
  loop.run_training(stage2, dataset(schedule.batch_size),
                    os.path.join(runs, "stage2"),
                    loop_config(schedule.stage2_steps))
  _say(f"stage 2 done after {time.monotonic() - start:.0f}s")

  _say(f"latent GAN: {s.latent_gan_steps} steps on E_R embeddings")
  real = data_sources.image_source(
      "pseudo_real", patterns["pseudo_real"], resolution,
      min(32, s.num_pseudo_real), shuffle=False, repeat=False)
  embeddings = cn_data.embed_images(stage2.real_encoder, real, 64)
  emb_path = os.path.join(runs, "embeddings.npy")
  np.save(emb_path + ".tmp.npy", embeddings)
  os.replace(emb_path + ".tmp.npy", emb_path)
  latent_gan = trainer.ConfigNetLatentGAN(latent_dim=stage2.table.latent_dim)
  loop.run_training(
      latent_gan,
      cn_data.embedding_dataset(min(32, len(embeddings)), emb_path),
      os.path.join(runs, "latent_gan"),
      loop.LoopConfig(max_steps=s.latent_gan_steps,
                      checkpoint_every=s.latent_gan_steps, image_every=0,
                      log_every=max(schedule.log_every,
                                    s.latent_gan_steps // 4),
                      seed=schedule.seed))

  export_base = os.path.join(output_dir, "export")
  export_dir = cn_export.export(stage2, export_base,
                                latent_generator=latent_gan.generator_ema,
                                zoom=s.zoom)
  models_config, _ = serving_config.write_serving_files(export_base,
                                                        "confignet")
  _say(f"exported SavedModel -> {export_dir} (TF Serving: {models_config})")

  controller = control.ConfigNetController.from_method(
      stage2, latent_gan.generator_ema)
  faces = heldout_faces(patterns["heldout"], resolution, s.num_heldout)
  base = {k: v[:1].copy() for k, v in faces["factors"].items()}
  base["expression"][:] = 0.0  # Neutral face; rows add one expression each.
  base["pose"][:] = 0.0
  names = procedural_model.ProceduralFaceModel().expression_names
  rows = control_rows(controller, base, names, s.columns)
  png = os.path.join(output_dir, "controls.png")
  write_sheet(rows, png)
  control_json = os.path.join(output_dir, "control.json")
  measured = measure_control(controller, faces, s.zoom, control_json,
                             s.analysis_dir)
  for line in cn_evaluation.summary_lines(measured):
    _say(line)
  paths = {
      "tensorboard": runs,
      "checkpoint_stage1": os.path.join(runs, "stage1", "checkpoints"),
      "checkpoint_stage2": os.path.join(runs, "stage2", "checkpoints"),
      "export": export_dir,
      "controls_png": png,
      "control_json": control_json,
  }
  summary = os.path.join(output_dir, "demo_summary.json")
  with open(summary + ".tmp", "w") as f:
    json.dump(dict(paths, seconds=time.monotonic() - start,
                   resolution=resolution,
                   settings=dataclasses.asdict(s),
                   schedule=dataclasses.asdict(schedule),
                   gin_config=gin.config_str()),
              f, indent=2, default=str)
  os.replace(summary + ".tmp", summary)
  elapsed = time.monotonic() - start
  _say(f"finished in {elapsed / 60:.1f} min")
  _say(f"TensorBoard logs : tensorboard --logdir {runs}")
  _say(f"checkpoints      : {paths['checkpoint_stage1']}, "
       f"{paths['checkpoint_stage2']}")
  _say(f"SavedModel       : {export_dir}")
  _say(f"controls         : {png}  (rows: {', '.join(rows)})")
  del tf
  return paths
