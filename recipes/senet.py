"""SENet-154, the ILSVRC 2017 entry (Hu, Shen, Sun, "Squeeze-and-Excitation Networks",
arXiv:1709.01507, and the entry's training notes).

Batch 2,048 on 64 GPUs with an initial learning rate of 0.1 (SGD, momentum 0.9), divided by 10
every 30 epochs of 100; label smoothing 0.1 (Szegedy et al., arXiv:1512.00567, Sec. 7); dropout
0.2 before the classifier; BatchNorm frozen for the last epochs ("last few" -- this recipe
freezes the last 5). Weight decay 1e-4 is our assumption (the notes do not give one).

    python recipes/senet.py --dataset tfds:imagenet2012 --data-dir /data/tfds
    python recipes/senet.py seresnext50 --smoke
"""

import sys

from keras_convnets.training import Recipe
from keras_convnets.training.command import recipe_main

RECIPE = Recipe(
    name="senet",
    description="SENet-154: batch 2048, lr 0.1, label smoothing, dropout, BN frozen at the end",
    reference="Hu et al. 2017, arXiv:1709.01507",
    model="senet154",
    dataset="tfds:imagenet2012", image_size=224, epochs=100, batch_size=2048,
    learning_rate=0.1, optimizer="sgd", momentum=0.9, nesterov=False, weight_decay=1e-4,
    schedule="step", step_epochs=(30, 60, 90), step_factor=0.1,
    label_smoothing=0.1, drop_rate=0.2, freeze_bn_epochs=5,
    augment="inception", normalize="imagenet",
)

if __name__ == "__main__":
    sys.exit(recipe_main(RECIPE))
