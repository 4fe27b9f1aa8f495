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
which this layout reproduces (39.9% and 45.2%; ``tests/test_lightweight_tables.py``). Halving
per stage is the reading those two figures confirm: the same 64 groups in every stage would
save 43.6% and 47.2%.

The builders reuse the residual family's machinery (:mod:`keras_convnets.models.resnet`)
through its ``stage_groups`` configuration field and take the residual family's options
(except ``cardinality`` and ``base_width``).
"""

from ..registry import Paper
from .resnet import ResNetConfig, _named

DEEP_ROOTS = Paper("Deep Roots: Improving CNN Efficiency with Hierarchical Filter Groups", 2016,
                   "1605.06489")
ROOTS = (2, 4, 8, 16, 32, 64)


def root_groups(root, stages=4):
    """Filter groups per stage for root-``root``: ``root`` halving per stage, at least 1."""
    return tuple(max(1, root >> stage) for stage in range(stages))


def root_config(root, depths=(3, 4, 6, 3)):
    return ResNetConfig(depths, stride_in_1x1=True, stage_groups=root_groups(root))


for _root in ROOTS:
    _name = f"ResNet50_Root{_root}"
    _groups = root_groups(_root)
    _reference = ("no reference implementation; the abstract's root-64 saving over ResNet-50 "
                  "(40% fewer parameters, 45% fewer FLOPs) is checked" if _root == 64 else
                  "no reference implementation or exact paper count")
    globals()[_name] = _named(
        _name, root_config(_root),
        f"ResNet 50 root-{_root} (Ioannou et al. 2016, arXiv:1605.06489, ILSVRC experiments):"
        f" ResNet-50 whose bottleneck 3x3 convolutions have {'/'.join(map(str, _groups))} "
        f"filter groups in stages 1-4 (conv2_x-conv5_x), stride in the first 1x1 (Caffe).",
        family="deep_roots", paper=DEEP_ROOTS, reference=_reference)

del _root, _name, _groups, _reference
