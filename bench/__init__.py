"""vae-bench: time and peak memory of diffusers VAEs across models, sizes and tiling."""

__version__ = "0.1.0"

# Bumped whenever what a case measures changes; it is part of every case_id so that
# results measured differently never match up in a resume or a comparison.
MEASUREMENT_VERSION = 1
