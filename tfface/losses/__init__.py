"""Loss functions: GAN losses and regularizers (gan.py), and more per method."""
