"""WRN-28-10 on CIFAR-10 (Zagoruyko & Komodakis, "Wide Residual Networks", arXiv:1605.07146,
Sec. 3).

SGD with Nesterov momentum 0.9, batch 128, learning rate 0.1 multiplied by 0.2 at epochs 60,
120 and 160 of 200, weight decay 5e-4, dropout 0.3 between the two 3x3 convolutions of each
block; horizontal flips and random 32x32 crops of the image padded by 4 pixels with
reflections. CIFAR-10 comes from a prepared TFDS directory or a folder of class folders.

    python recipes/wrn28_10_cifar.py --dataset tfds:cifar10 --data-dir /data/tfds
    python recipes/wrn28_10_cifar.py --smoke
"""

import sys

from keras_convnets.training import Recipe
from keras_convnets.training.command import recipe_main

RECIPE = Recipe(
    name="wrn28_10_cifar",
    description="WRN-28-10, CIFAR-10: Nesterov SGD 0.1, x0.2 at 60/120/160 of 200 epochs",
    reference="Zagoruyko & Komodakis 2016, arXiv:1605.07146",
    model="wideresnet28_10",
    dataset="tfds:cifar10", image_size=32, epochs=200, batch_size=128,
    learning_rate=0.1, optimizer="sgd", momentum=0.9, nesterov=True, weight_decay=5e-4,
    schedule="step", step_epochs=(60, 120, 160), step_factor=0.2,
    augment="flip_crop", model_kwargs={"block_dropout": 0.3},
)

if __name__ == "__main__":
    sys.exit(recipe_main(RECIPE))
