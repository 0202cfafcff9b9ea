r"""``make demo``: ConfigNet trained end to end on the CPU, in under 20 minutes.

  python -m tfface.demo --output_dir=demo_out [--vgg19_weights=FILE] [--tiny]

Steps (everything lands under ``--output_dir``):
  1. Renders the labeled synthetic dataset and its unlabeled pseudo-real
     domain at 64 px with the procedural face model (``data/``), plus a small
     held-out synthetic set (``data/heldout/``).
  2. Trains ConfigNet stage 1 (``runs/stage1``) and stage 2 (``runs/stage2``,
     initialized from stage 1) with a progress line, then the latent GAN on
     E_R embeddings (``runs/latent_gan``). TensorBoard logs are in each run's
     ``train/``.
  3. Exports the SavedModel (``export/<version>``).
  4. Writes ``controls.png``: one row per control (yaw, pitch, jawOpen,
     mouthSmile, illumination, hair colour, gaze), one factor sweeping while
     everything else holds.
  5. Measures control on the held-out faces against the renderer (what
     ``tools/evaluate.py confignet`` measures) into ``control.json`` and
     prints the main numbers.

Perceptual loss: with ``--vgg19_weights`` (a Keras VGG-19 no-top weights
file) the real VGG-19 loss is used. Without it (machines without internet
have none) the demo says so and uses the documented fallback: a pixel L1
term plus the VGG-19 feature loss on a random-weight VGG-19 of 1/8 width.

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
See :class:`DemoSettings`, whose comments give the reference values.
"""

import dataclasses
import json
import math
import os
import sys
import time
from typing import Dict, List, Optional

from absl import app
from absl import flags
from absl import logging
import numpy as np

flags.DEFINE_string("output_dir", "demo_out", "Where everything is written.")
flags.DEFINE_string("vgg19_weights", None,
                    "Keras VGG-19 (include_top=False) weights file for the "
                    "perceptual loss; without it a fallback is used.")
flags.DEFINE_bool("tiny", False, "Tiny settings (seconds; for tests).")
flags.DEFINE_integer("stage1_steps", None, "Overrides the stage-1 steps.")
flags.DEFINE_integer("stage2_steps", None, "Overrides the stage-2 steps.")

FLAGS = flags.FLAGS

ROWS = ("yaw", "pitch", "jawOpen", "mouthSmile", "illumination",
        "hair colour", "gaze")


@dataclasses.dataclass
class DemoSettings:
  """Sizes and schedule of the demo (the defaults are ``make demo``'s)."""
  image_size: int = 64
  num_synthetic: int = 2000
  num_pseudo_real: int = 1000
  num_heldout: int = 64
  render_batch: int = 32
  # Camera zoom of the rendered data: 1 frames forehead to chin (the
  # dataset default 0.75 shows the whole head), so the mouth is larger.
  zoom: float = 1.0
  # Training data switches these expressions on more often than the sparse
  # default sampling (held-out data keeps the default).
  expression_focus: tuple = ("jawOpen", "mouthSmile", "eyeBlink")
  expression_focus_probability: float = 0.5
  batch_size: int = 8
  stage1_steps: int = 4000
  stage2_steps: int = 400
  latent_gan_steps: int = 400
  columns: int = 7
  generator: Dict[str, object] = dataclasses.field(default_factory=lambda: dict(
      const_channels=64, channels_3d=(32, 16), channels_3d_post=(16, 16),
      projection_channels=128, channels_2d=(64, 32), mlp_units=64,
      constant_size=16))
  discriminator: Dict[str, object] = dataclasses.field(
      default_factory=lambda: dict(num_blocks=4, base_filters=16,
                                   max_filters=128))
  encoder_widths: tuple = (16, 32, 64, 128)
  # A run of ~2000 steps instead of 2×50k: faster optimizer settings and
  # supervised terms in the lead (reference values in comments).
  learning_rate: float = 2e-3          # 4e-4
  beta_1: float = 0.5                  # 0
  beta_2: float = 0.99                 # 0.9
  gan_loss_weight: float = 0.1         # 1
  latent_regression_weight: float = 1.0   # 10
  domain_adversarial_weight: float = 1.0  # 5
  mouth_loss_weight: float = 40.0      # not in the reference (0)
  eye_box_loss_weight: float = 40.0    # not in the reference (0)
  landmark_loss_warmup: tuple = (500, 1500)  # stage 1 only
  ema_decay: float = 0.99              # 0.999
  pixel_l1_weight: float = 20.0        # 0 (fallback term, see module doc)
  vgg_width: float = 0.125
  log_every: int = 50
  image_every: int = 500
  seed: int = 0


def tiny_settings() -> DemoSettings:
  """Seconds-long settings that still run every step of the demo."""
  return DemoSettings(
      image_size=32, num_synthetic=8, num_pseudo_real=8, num_heldout=4,
      render_batch=8, batch_size=4, stage1_steps=2, stage2_steps=2,
      latent_gan_steps=2, columns=3,
      generator=dict(const_channels=8, channels_3d=(8, 4),
                     channels_3d_post=(4, 4), projection_channels=8,
                     channels_2d=(8,), mlp_units=8),
      discriminator=dict(num_blocks=2, base_filters=4, max_filters=8),
      encoder_widths=(4, 8), vgg_width=0.0625, log_every=1, image_every=2)


def _say(message: str) -> None:
  print(f"[demo] {message}", flush=True)


def make_data(output_dir: str, s: DemoSettings) -> Dict[str, str]:
  """Renders the three datasets (resumes complete shards); returns globs."""
  from tfface.data import sharded_writer  # pylint: disable=g-import-not-at-top
  from tfface.data import synthetic  # pylint: disable=g-import-not-at-top
  data_dir = os.path.join(output_dir, "data")
  heldout_dir = os.path.join(data_dir, "heldout")
  focus = (tuple(s.expression_focus), s.expression_focus_probability)
  jobs = (("synthetic", data_dir, s.num_synthetic, s.seed, focus),
          ("pseudo_real", data_dir, s.num_pseudo_real, s.seed, focus),
          ("synthetic", heldout_dir, s.num_heldout, s.seed + 1000, ((), 0.0)))
  for mode, directory, count, seed, (names, probability) in jobs:
    _say(f"rendering {count} {mode} faces at {s.image_size} px -> {directory}")
    synthetic.write_synthetic_dataset(
        directory, count, s.image_size, mode=mode, seed=seed,
        batch_size=min(s.render_batch, count), zoom=s.zoom,
        expression_focus=names, expression_focus_probability=probability,
        show_progress=True)
  return {"synthetic": sharded_writer.shard_pattern(data_dir, "synthetic"),
          "pseudo_real": sharded_writer.shard_pattern(data_dir, "pseudo_real"),
          "heldout": sharded_writer.shard_pattern(heldout_dir, "synthetic")}


def method_kwargs(s: DemoSettings, vgg19_weights: Optional[str]) -> dict:
  return dict(
      resolution=s.image_size, factor_preset="synthetic",
      generator=s.generator, discriminator=s.discriminator,
      learning_rate=s.learning_rate, beta_1=s.beta_1, beta_2=s.beta_2,
      ema_decay=s.ema_decay,
      gan_loss_weight=s.gan_loss_weight,
      latent_regression_weight=s.latent_regression_weight,
      domain_adversarial_weight=s.domain_adversarial_weight,
      mouth_loss_weight=s.mouth_loss_weight,
      eye_box_loss_weight=s.eye_box_loss_weight,
      vgg_weights_path=vgg19_weights,
      vgg_width=1.0 if vgg19_weights else s.vgg_width,
      pixel_l1_weight=0.0 if vgg19_weights else s.pixel_l1_weight,
      r1_per_output=False)


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


def measure_control(controller, faces, zoom: float, path: str) -> Dict:
  """``tools/evaluate.py confignet``'s numbers for the trained networks on
  the held-out faces, written to ``path`` as JSON (atomically)."""
  from tfface.metrics import controllability  # pylint: disable=g-import-not-at-top
  table = controller.table

  def encode(theta):
    return controller.encode_factors(
        {k: theta[k] for k in table.names}).numpy()

  def generate(z, rotation):
    return controller.generate(z, np.asarray(rotation, np.float32)).numpy()

  truth = controllability.TruthRenderer(faces["image"].shape[1], zoom)
  result = controllability.evaluate_control(
      encode, generate, faces["factors"], faces["image"], truth=truth,
      factor_names=[n for n in table.names
                    if n in controllability.FACTOR_REGIONS])
  with open(path + ".tmp", "w") as f:
    json.dump(result, f, indent=2)
  os.replace(path + ".tmp", path)
  return result


def write_sheet(rows: Dict[str, np.ndarray], path: str, scale: int = 2) -> None:
  """Rows of faces with their labels on the left, as a PNG (atomic)."""
  from PIL import Image, ImageDraw  # pylint: disable=g-import-not-at-top
  images = list(rows.values())
  n, size = images[0].shape[0], images[0].shape[1] * scale
  label_w = 110
  sheet = Image.new("RGB", (label_w + n * size, len(images) * size), "white")
  draw = ImageDraw.Draw(sheet)
  for r, (name, batch) in enumerate(rows.items()):
    draw.text((6, r * size + size // 2 - 6), name, fill=(0, 0, 0))
    for c in range(n):
      pixels = np.clip((batch[c] + 1.0) * 127.5, 0, 255).astype(np.uint8)
      tile = Image.fromarray(pixels).resize((size, size), Image.NEAREST)
      sheet.paste(tile, (label_w + c * size, r * size))
  tmp = path + ".tmp.png"
  sheet.save(tmp)
  os.replace(tmp, path)


def run_demo(output_dir: str, settings: Optional[DemoSettings] = None,
             vgg19_weights: Optional[str] = None) -> Dict[str, str]:
  """Runs the whole demo; returns the paths it wrote (also printed)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from tfface.methods.confignet import control  # pylint: disable=g-import-not-at-top
  from tfface.methods.confignet import data as cn_data  # pylint: disable=g-import-not-at-top
  from tfface.methods.confignet import evaluation as cn_evaluation  # pylint: disable=g-import-not-at-top
  from tfface.methods.confignet import export as cn_export  # pylint: disable=g-import-not-at-top
  from tfface.methods.confignet import trainer  # pylint: disable=g-import-not-at-top
  from tfface.rendering import procedural_model  # pylint: disable=g-import-not-at-top
  from tfface.training import loop  # pylint: disable=g-import-not-at-top

  s = settings or DemoSettings()
  start = time.monotonic()
  os.makedirs(output_dir, exist_ok=True)
  if vgg19_weights:
    _say(f"perceptual loss: VGG-19 weights from {vgg19_weights}")
  else:
    _say("no VGG-19 weights file configured (--vgg19_weights): using the "
         "fallback perceptual loss, pixel L1 + random-feature VGG-19 "
         f"(width {s.vgg_width:g}).")
  patterns = make_data(output_dir, s)
  _say(f"data ready after {time.monotonic() - start:.0f}s")

  def dataset(batch):
    return cn_data.confignet_dataset(
        batch, synthetic_pattern=patterns["synthetic"],
        real_source=patterns["pseudo_real"], image_size=s.image_size,
        seed=s.seed)

  def config(steps):
    return loop.LoopConfig(max_steps=steps, checkpoint_every=max(steps, 1),
                           image_every=s.image_every, log_every=s.log_every,
                           summary_every=s.log_every, seed=s.seed)

  runs = os.path.join(output_dir, "runs")
  kwargs = method_kwargs(s, vgg19_weights)
  _say(f"stage 1: {s.stage1_steps} steps, batch {s.batch_size} "
       "(half synthetic, half pseudo-real)")
  stage1 = trainer.ConfigNetStage1(
      landmark_loss_warmup=s.landmark_loss_warmup, **kwargs)
  loop.run_training(stage1, dataset(s.batch_size),
                    os.path.join(runs, "stage1"), config(s.stage1_steps))
  _say(f"stage 1 done after {time.monotonic() - start:.0f}s")
  _say(f"stage 2: {s.stage2_steps} steps, initialized from stage 1")
  stage2 = trainer.ConfigNetStage2(
      init_checkpoint=os.path.join(runs, "stage1"), encoder_backbone="small",
      encoder_widths=s.encoder_widths,
      image_loss_weight=10 * stage1.image_loss_weight, **kwargs)
  loop.run_training(stage2, dataset(s.batch_size),
                    os.path.join(runs, "stage2"), config(s.stage2_steps))
  _say(f"stage 2 done after {time.monotonic() - start:.0f}s")

  _say(f"latent GAN: {s.latent_gan_steps} steps on E_R embeddings")
  real = cn_data.real_images("pseudo_real", patterns["pseudo_real"],
                             s.image_size, min(32, s.num_pseudo_real),
                             shuffle=False, repeat=False)
  embeddings = cn_data.embed_images(stage2.real_encoder, real, 64)
  emb_path = os.path.join(runs, "embeddings.npy")
  np.save(emb_path + ".tmp.npy", embeddings)
  os.replace(emb_path + ".tmp.npy", emb_path)
  latent_gan = trainer.ConfigNetLatentGAN(
      latent_dim=stage2.table.latent_dim, learning_rate=2e-4, ema_decay=0.99)
  loop.run_training(
      latent_gan,
      cn_data.embedding_dataset(min(32, len(embeddings)), emb_path),
      os.path.join(runs, "latent_gan"),
      loop.LoopConfig(max_steps=s.latent_gan_steps,
                      checkpoint_every=s.latent_gan_steps, image_every=0,
                      log_every=max(s.log_every, s.latent_gan_steps // 4),
                      seed=s.seed))

  export_dir = cn_export.export(stage2, os.path.join(output_dir, "export"),
                                latent_generator=latent_gan.generator_ema)
  _say(f"exported SavedModel -> {export_dir}")

  controller = control.ConfigNetController.from_method(
      stage2, latent_gan.generator_ema)
  faces = heldout_faces(patterns["heldout"], s.image_size, s.num_heldout)
  base = {k: v[:1].copy() for k, v in faces["factors"].items()}
  base["expression"][:] = 0.0  # Neutral face; rows add one expression each.
  base["pose"][:] = 0.0
  names = procedural_model.ProceduralFaceModel().expression_names
  rows = control_rows(controller, base, names, s.columns)
  png = os.path.join(output_dir, "controls.png")
  write_sheet(rows, png)
  control_json = os.path.join(output_dir, "control.json")
  measured = measure_control(controller, faces, s.zoom, control_json)
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
                   settings=dataclasses.asdict(s)), f, indent=2, default=str)
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


def main(argv: List[str]) -> int:
  del argv
  logging.set_verbosity(logging.INFO)
  settings = tiny_settings() if FLAGS.tiny else DemoSettings()
  if FLAGS.stage1_steps is not None:
    settings.stage1_steps = FLAGS.stage1_steps
  if FLAGS.stage2_steps is not None:
    settings.stage2_steps = FLAGS.stage2_steps
  if FLAGS.vgg19_weights and not os.path.isfile(FLAGS.vgg19_weights):
    print(f"error: --vgg19_weights {FLAGS.vgg19_weights!r} does not exist; "
          "expected a Keras VGG-19 no-top weights .h5 file", file=sys.stderr)
    return 1
  run_demo(FLAGS.output_dir, settings, FLAGS.vgg19_weights)
  return 0


if __name__ == "__main__":
  app.run(main)
