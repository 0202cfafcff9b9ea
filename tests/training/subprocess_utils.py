"""Running the binaries in subprocesses from tests."""

import os
import socket
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOY_GIN = os.path.join(REPO, "tests", "training", "toy.gin")


def env(**extra):
  environment = dict(os.environ)
  environment["PYTHONPATH"] = REPO + os.pathsep + environment.get("PYTHONPATH", "")
  environment.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  environment.pop("TF_CONFIG", None)
  environment.update(extra)
  return environment


def train_command(model_dir, *args):
  return [sys.executable, os.path.join(REPO, "tools", "train.py"),
          f"--gin_file={TOY_GIN}", f"--model_dir={model_dir}", *args]


def run(command, timeout=240, **extra_env):
  return subprocess.run(command, env=env(**extra_env), capture_output=True,
                        text=True, timeout=timeout, cwd=REPO)


def free_ports(count):
  sockets, ports = [], []
  for _ in range(count):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    sockets.append(s)
    ports.append(s.getsockname()[1])
  for s in sockets:
    s.close()
  return ports
