"""ResNet-50 at batch 8,192 in one hour: Goyal et al., "Accurate, Large Minibatch SGD: Training
ImageNet in 1 Hour", 2017, arXiv:1706.02677.

- Linear scaling rule (Sec. 2.1): learning rate 0.1 per 256 images, so 3.2 at 8,192.
- Gradual warm-up (Sec. 2.2): from 0.1 up to 3.2, a constant step every iteration, over the
  first 5 epochs.
- Then divided by 10 at epochs 30, 60 and 80 of 90 (Sec. 5.1).
- Momentum 0.9 with the momentum correction of Sec. 2.3 (our SGD keeps the velocity in
  gradient units, so a changing rate needs no extra factor); weight decay 1e-4, none on the BN
  scales and offsets; each residual branch's last BN scale starts at zero (Sec. 5.1).
- BatchNorm statistics per worker of 32 images, as the paper (use ``--norm sync_batch`` for
  synchronised BN instead).

Run it on 256 accelerators: ``--strategy multi_worker`` with TF_CONFIG on every worker, or a TPU.

    python recipes/goyal_large_batch.py --dataset tfds:imagenet2012 --data-dir /data/tfds
    python recipes/goyal_large_batch.py --smoke
"""

import sys

from keras_convnets.training import Recipe
from keras_convnets.training.command import recipe_main

RECIPE = Recipe(
    name="goyal_large_batch",
    description="ResNet-50 at batch 8192: linear scaling (3.2), 5-epoch gradual warm-up",
    reference="Goyal et al. 2017, arXiv:1706.02677",
    model="resnet50",
    dataset="tfds:imagenet2012", image_size=224, epochs=90, batch_size=8192,
    learning_rate=0.1, base_batch_size=256, optimizer="sgd", momentum=0.9, nesterov=False,
    weight_decay=1e-4,
    schedule="step", step_epochs=(30, 60, 80), step_factor=0.1,
    warmup_epochs=5,
    augment="inception", normalize="imagenet",
    model_kwargs={"zero_init_residual": True},
)

if __name__ == "__main__":
    sys.exit(recipe_main(RECIPE))
