"""Installs tfface, a TensorFlow 2 / Keras 3 library for controllable face generation.

TensorFlow Graphics is not listed in ``install_requires``: the last release
(2021.12.3) declares TF Addons (end of life, fails to import under
Keras 3), ``tensorflow-datasets`` and ``OpenEXR``, none of which tfface uses.
The Makefile installs it with ``pip install --no-deps``; see README.md.
"""
import setuptools

INSTALL_REQUIRES = [
    "tensorflow>=2.21,<2.22",
    "gin-config>=0.5,<0.6",
    "absl-py>=2.1",
    "tensorboard>=2.21,<2.22",
    "numpy>=1.26",
    "scipy>=1.13",
    # The only import TensorFlow Graphics' rendering/geometry/math leaf modules
    # need beyond TensorFlow, numpy and absl.
    "six>=1.16",
    # The LiftedGAN identity-vs-yaw plot (tensorboard installs it anyway).
    "pillow>=10",
    # TF Serving's PredictRequest / PredictionLog / ModelServerConfig protos
    # and gRPC stub: the warm-up file, models.config and the gRPC client.
    # Pure Python; its grpcio and protobuf are TensorFlow's own.
    "tensorflow-serving-api>=2.21,<2.22",
]

# Installed with --no-deps; see the module docstring.
TENSORFLOW_GRAPHICS = "tensorflow-graphics==2021.12.3"

setuptools.setup(
    name="tfface",
    version="0.1.0",
    description="Controllable neural face generation in TensorFlow 2 / Keras 3",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    # tools/ and export/ hold the absl binaries; they install as tfface_tools
    # and tfface_export so the console scripts below can import them.
    packages=setuptools.find_packages(include=["tfface", "tfface.*"])
    + ["tfface_tools", "tfface_export"],
    package_dir={"tfface_tools": "tools", "tfface_export": "export"},
    install_requires=INSTALL_REQUIRES,
    extras_require={
        "test": ["pytest>=8", "pytest-xdist>=3.5",
                 # So the tests exercise face detection (a 2 MB wheel).
                 "mtcnn>=1.0,<2"],
        # Only the weight converters read PyTorch checkpoints.
        "torch": ["torch>=2.0"],
        # Face detection for tools/align_faces.py and tools/edit.py: MTCNN
        # with its trained weights inside the wheel (needs lz4 and joblib).
        "align": ["mtcnn>=1.0,<2"],
    },
    entry_points={
        "console_scripts": [
            "tfface-train=tfface_tools.train:run",
            "tfface-generate=tfface_tools.generate:run",
            "tfface-convert-weights=tfface_tools.convert_weights:run",
            "tfface-make-synthetic=tfface_tools.make_synthetic:run",
            "tfface-benchmark=tfface_tools.benchmark:run",
            "tfface-edit=tfface_tools.edit:run",
            "tfface-align-faces=tfface_tools.align_faces:run",
            "tfface-make-pretrained=tfface_tools.make_pretrained:run",
            "tfface-evaluate=tfface_tools.evaluate:run",
            "tfface-encode-latents=tfface_tools.encode_latents:run",
            "tfface-make-stylerig-data=tfface_tools.make_stylerig_data:run",
            "tfface-demo=tfface_tools.demo:run",
            "tfface-export=tfface_export.export_savedmodel:run",
            "tfface-serving-client=tfface_export.serving_client:run",
        ],
    },
)
