"""Deep Roots: ResNet-50 with hierarchical filter groups ("root modules").

Ioannou, Robertson, Cipolla, Criminisi. "Deep Roots: Improving CNN Efficiency with
Hierarchical Filter Groups", 2016 (CVPR 2017), arXiv:1605.06489: the ILSVRC experiments with
ResNet 50.

A root module is a grouped spatial convolution followed by a 1x1 convolution that mixes the
groups -- in a ResNet bottleneck, its 3x3 split into ``d`` filter groups ahead of the block's
own 1x1. "Root" means the grouping is hierarchical: most groups near the input, fewer with
depth. ResNet 50 root-``n`` has ``n`` filter groups in the 3x3s of the first stage (conv2_x)
and half as many in each following stage: root-64 is 64/32/16/8 groups (conv2_x is then
depthwise). Everything else is the Caffe ResNet-50 the paper starts from (Kaiming He's
release: stride in the first 1x1 of each bottleneck).

No reference implementation is published. The paper's abstract gives the root-64 model's
saving over ResNet-50 -- "40% fewer parameters, 45% fewer floating point operations" --
which this layout reproduces (39.9% and 45.2%; ``tests/test_deep_roots.py``). Halving
per stage is the reading those two figures confirm: the same 64 groups in every stage would
save 43.6% and 47.2%.

The builders reuse the residual family's machinery (:mod:`keras_convnets.models.resnet`)
through its ``stage_groups`` configuration field and take the residual family's options
(except ``cardinality`` and ``base_width``).
"""

from ..registry import Paper, no_reference, register
from .resnet import RESNET_OPTIONS, ResNetConfig, build_resnet, tiny_config

DEEP_ROOTS = Paper("Deep Roots: Improving CNN Efficiency with Hierarchical Filter Groups", 2016,
                   "1605.06489")


def root_groups(root, stages=4):
    """Filter groups per stage for root-``root``: ``root`` halving per stage, at least 1."""
    return tuple(max(1, root >> stage) for stage in range(stages))


def root_config(root, depths=(3, 4, 6, 3)):
    """ResNet-50 (stride in the first 1x1, Caffe) with root-``root`` filter groups."""
    return ResNetConfig(depths, stride_in_1x1=True, stage_groups=root_groups(root))


_NO_COUNT = no_reference("no reference implementation or exact paper count")
ROOTS = dict(family="deep_roots", paper=DEEP_ROOTS, tiny=tiny_config, options=RESNET_OPTIONS,
             generic_builder="build_resnet")


@register(**ROOTS, config=root_config(2), reference=_NO_COUNT)
def ResNet50_Root2(config, **kwargs):
    """ResNet 50 root-2 (Ioannou et al. 2016, arXiv:1605.06489, ILSVRC experiments): ResNet-50
    whose bottleneck 3x3 convolutions have 2/1/1/1 filter groups in stages 1-4."""
    return build_resnet("resnet50_root2", config, **kwargs)


@register(**ROOTS, config=root_config(4), reference=_NO_COUNT)
def ResNet50_Root4(config, **kwargs):
    """ResNet 50 root-4 (Ioannou et al. 2016, arXiv:1605.06489): 4/2/1/1 filter groups in the
    bottleneck 3x3 convolutions of stages 1-4."""
    return build_resnet("resnet50_root4", config, **kwargs)


@register(**ROOTS, config=root_config(8), reference=_NO_COUNT)
def ResNet50_Root8(config, **kwargs):
    """ResNet 50 root-8 (Ioannou et al. 2016, arXiv:1605.06489): 8/4/2/1 filter groups."""
    return build_resnet("resnet50_root8", config, **kwargs)


@register(**ROOTS, config=root_config(16), reference=_NO_COUNT)
def ResNet50_Root16(config, **kwargs):
    """ResNet 50 root-16 (Ioannou et al. 2016, arXiv:1605.06489): 16/8/4/2 filter groups."""
    return build_resnet("resnet50_root16", config, **kwargs)


@register(**ROOTS, config=root_config(32), reference=_NO_COUNT)
def ResNet50_Root32(config, **kwargs):
    """ResNet 50 root-32 (Ioannou et al. 2016, arXiv:1605.06489): 32/16/8/4 filter groups."""
    return build_resnet("resnet50_root32", config, **kwargs)


@register(**ROOTS, config=root_config(64),
          reference=no_reference("no reference implementation; the abstract's root-64 saving "
                                 "over ResNet-50 (40% fewer parameters, 45% fewer FLOPs) is "
                                 "checked"))
def ResNet50_Root64(config, **kwargs):
    """ResNet 50 root-64 (Ioannou et al. 2016, arXiv:1605.06489): 64/32/16/8 filter groups, the
    first stage's 3x3s depthwise; 40% fewer parameters and 45% fewer FLOPs than ResNet-50 (the
    abstract)."""
    return build_resnet("resnet50_root64", config, **kwargs)
