"""MobileNet on ImageNet (Howard et al., "MobileNets: Efficient Convolutional Neural Networks
for Mobile Vision Applications", 2017, arXiv:1704.04861, Sec. 4).

The paper trains "using RMSprop with asynchronous gradient descent similar to Inception V3",
with less regularisation and augmentation than large models and "very little or no weight
decay" on the depthwise filters. From Inception v3 (Szegedy et al., arXiv:1512.00567, Sec. 8):
RMSprop decay 0.9, epsilon 1.0, momentum 0.9, learning rate 0.045 decayed by 0.94 every 2
epochs. Our choices where the paper gives no number: synchronous training at batch 256,
weight decay 4e-5 on every kernel except the depthwise ones, 100 epochs, and lighter
augmentation than Inception's: random crops of 25-100 % of the image instead of 8-100 %.

    python recipes/mobilenet.py --dataset tfds:imagenet2012 --data-dir /data/tfds
    python recipes/mobilenet.py --smoke
"""

import sys

from keras_convnets.training import Recipe
from keras_convnets.training.command import recipe_main

RECIPE = Recipe(
    name="mobilenet",
    description="MobileNet: RMSprop 0.045, x0.94 every 2 epochs, no decay on depthwise kernels",
    reference="Howard et al. 2017, arXiv:1704.04861; Szegedy et al. 2015, arXiv:1512.00567",
    model="mobilenet",
    dataset="tfds:imagenet2012", image_size=224, epochs=100, batch_size=256,
    learning_rate=0.045, optimizer="rmsprop", momentum=0.9, rmsprop_rho=0.9,
    rmsprop_epsilon=1.0, weight_decay=4e-5, decay_exclude_layers=("DepthwiseConv2D",),
    schedule="exponential", decay_every_epochs=2, step_factor=0.94,
    augment="inception", crop_area=(0.25, 1.0), normalize="imagenet",
)

if __name__ == "__main__":
    sys.exit(recipe_main(RECIPE))
