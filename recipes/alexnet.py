"""AlexNet on ImageNet (Krizhevsky, Sutskever, Hinton, "ImageNet Classification with Deep
Convolutional Neural Networks", NIPS 2012, Sec. 5).

Batch 128, SGD momentum 0.9, weight decay 5e-4 (applied to every weight, biases included, as
the paper's update rule does), learning rate 0.01 divided by 10 three times over about 90
epochs -- the paper divides "when the validation error rate stopped improving"; this recipe
fixes the three drops at epochs 30, 60 and 80. Dropout 0.5 sits inside AlexNet's classifier;
224x224 random crops with horizontal flips.

Its model is the paper's two-GPU layout (``kc.AlexNet``: response normalisation, conv2/4/5
grouped); the recipe is generic over the model, so ``keras-convnets train alexnetowt --recipe
alexnet`` trains torchvision's one-tower variant with it, and any registry model likewise.

    python recipes/alexnet.py --dataset /data/imagenet          # train/ and val/ class folders
    python recipes/alexnet.py --dataset tfds:imagenet2012 --data-dir /data/tfds
    python recipes/alexnet.py --smoke
"""

import sys

from keras_convnets.training import Recipe
from keras_convnets.training.command import recipe_main

RECIPE = Recipe(
    name="alexnet",
    description="AlexNet, ImageNet: SGD 0.01, batch 128, step decay",
    reference="Krizhevsky et al. 2012, NIPS, Sec. 5",
    model="alexnet",
    dataset="tfds:imagenet2012", image_size=224, epochs=90, batch_size=128,
    learning_rate=0.01, optimizer="sgd", momentum=0.9, nesterov=False,
    weight_decay=5e-4, decay_vectors=True,
    schedule="step", step_epochs=(30, 60, 80), step_factor=0.1,
    augment="crop", normalize="imagenet",
)

if __name__ == "__main__":
    sys.exit(recipe_main(RECIPE))
