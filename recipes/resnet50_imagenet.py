"""ResNet-50 on ImageNet, the reference recipe (He et al., "Deep Residual Learning for Image
Recognition", arXiv:1512.03385, Sec. 3.4; the 90-epoch schedule of Goyal et al.,
arXiv:1706.02677, Sec. 5.1).

Batch 256, SGD momentum 0.9, learning rate 0.1, weight decay 1e-4 (not on BatchNorm scales and
offsets or biases), divided by 10 at epochs 30, 60 and 80 of 90. Scale augmentation: random
crops of 8-100 % of the image at aspect 3/4-4/3, resized to 224, horizontal flips; evaluation
on the central 87.5 % crop. (The seed notes say "weight decay 1e-5"; the paper says 0.0001.)

    python recipes/resnet50_imagenet.py --dataset /data/imagenet
    python recipes/resnet50_imagenet.py --dataset tfds:imagenet2012 --data-dir /data/tfds
    python recipes/resnet50_imagenet.py --smoke
"""

import sys

from keras_convnets.training import Recipe
from keras_convnets.training.command import recipe_main

RECIPE = Recipe(
    name="resnet50_imagenet",
    description="ResNet-50, ImageNet: batch 256, lr 0.1, step decay at 30/60/80 of 90 epochs",
    reference="He et al. 2015, arXiv:1512.03385, Sec. 3.4; Goyal et al. 2017, Sec. 5.1",
    model="resnet50",
    dataset="tfds:imagenet2012", image_size=224, epochs=90, batch_size=256,
    learning_rate=0.1, base_batch_size=256, optimizer="sgd", momentum=0.9, nesterov=False,
    weight_decay=1e-4,
    schedule="step", step_epochs=(30, 60, 80), step_factor=0.1,
    augment="inception", normalize="imagenet",
)

if __name__ == "__main__":
    sys.exit(recipe_main(RECIPE))
