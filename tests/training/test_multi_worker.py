"""MultiWorkerMirroredStrategy: two worker processes on 127.0.0.1."""

import json
import os
import subprocess
import sys

import numpy as np

from tests.training import subprocess_utils as su


def test_two_workers_end_with_identical_weights(tmp_path):
  ports = su.free_ports(2)
  cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
  processes = []
  try:
    for index in range(2):
      config = json.dumps({"cluster": cluster,
                           "task": {"type": "worker", "index": index}})
      out = tmp_path / f"worker{index}.json"
      processes.append(subprocess.Popen(
          [sys.executable, "-m", "tests.training.multi_worker_main",
           str(tmp_path / "run"), str(out)],
          env=su.env(TF_CONFIG=config), cwd=su.REPO,
          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outputs = [p.communicate(timeout=240) for p in processes]
  finally:
    for p in processes:
      if p.poll() is None:
        p.kill()
        p.wait()
  for p, (_, err) in zip(processes, outputs):
    assert p.returncode == 0, err[-3000:]
  results = [json.loads((tmp_path / f"worker{i}.json").read_text())
             for i in range(2)]
  assert [r["replicas"] for r in results] == [2, 2]
  np.testing.assert_array_equal(results[0]["weights"], results[1]["weights"])
  assert results[0]["losses"] == results[1]["losses"]
  # ... and the workers trained: the weights left their initial values.
  from tests.training import toy_method  # pylint: disable=g-import-not-at-top
  fresh = toy_method.ToyRegression()
  fresh.build()
  assert np.abs(np.array(results[0]["weights"])
                - toy_method.final_weights(fresh)).max() > 1e-3
  # Only the chief wrote checkpoints; the other worker's scratch is gone.
  assert os.path.exists(tmp_path / "run" / "checkpoints" / "ckpt-5.index")
  scratch = tmp_path / "run" / ".worker_scratch"
  assert not scratch.exists() or not any(scratch.rglob("*.index"))
