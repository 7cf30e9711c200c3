"""Exercise 07 (PaddlePaddle): the class activation map (CAM) of a network with a global-average-pooling head."""

import paddle


def class_activation_map(feature_maps: paddle.Tensor, classifier_weight: paddle.Tensor,
                         class_idx: paddle.Tensor) -> paddle.Tensor:
    """Class activation maps, one per image, normalised to ``[0, 1]`` (Zhou et al., "Learning Deep
    Features for Discriminative Localization", CVPR 2016, Eq. (2); official code
    ``zhoubolei/CAM``, ``pytorch_CAM.py``).

    A classifier that ends with global average pooling and a linear layer scores class ``c`` as
    ``sum_k w[c, k] * mean_{h,w} f_k(h, w)`` (plus a bias). Moving the sum inside the mean gives
    the class activation map, the evidence for class ``c`` at each position::

        M_c(h, w) = sum_k w[c, k] * f_k(h, w)                       (Eq. 2)

    For image ``b`` take ``c = class_idx[b]`` (one class per image, not the same for all), then:

    1. ``M = sum over the channels k of classifier_weight[c, k] * feature_maps[b, k]``, shape
       ``(H, W)``; no bias (it adds the same number everywhere);
    2. ``R = max(M, 0)``, the ReLU: only positive evidence is kept;
    3. per map (per image, over its own ``H x W`` positions, never over the batch):
       ``(R - min R) / (max R - min R)``, so that each map spans ``[0, 1]``;
    4. a map whose maximum equals its minimum after the ReLU (for example a CAM that is negative
       everywhere, whose ReLU is all zeros) comes back as zeros: no division by zero, no NaN.

    Other normalisations you will meet: the official code min-maxes ``M`` without the ReLU
    (negative values set the bottom of the scale), and the Med-Framework attention guide applies
    the ReLU and divides by the maximum without subtracting the minimum (a map that is positive
    everywhere then does not reach 0). This exercise grades the ReLU + min-max version above.

    Args:
        feature_maps: ``(B, C, H, W)`` float32 (NCHW), the last feature map before global
            average pooling (for example non-negative, after a ReLU).
        classifier_weight: ``(num_classes, C)`` float32, one row per class: PyTorch's
            ``nn.Linear`` layout, the transpose of a Paddle ``nn.Linear`` weight, which is
            ``(C, num_classes)`` (pass ``linear.weight.T`` for a Paddle classifier).
        class_idx: ``(B,)`` int64, the class whose map is wanted for each image, each in
            ``[0, num_classes)``.

    Returns:
        ``(B, H, W)`` float32, every value in ``[0, 1]``: the normalised CAM of image ``b`` for
        class ``class_idx[b]``. Gradients are not needed (the grader calls it under
        ``paddle.no_grad()``).
    """
    ### BEGIN SOLUTION
    weight = paddle.gather(classifier_weight, class_idx)  # (B, C): each image's own class row
    cam = paddle.nn.functional.relu((feature_maps * weight[:, :, None, None]).sum(axis=1))  # (B, H, W)
    lo = paddle.amin(cam, axis=[1, 2], keepdim=True)
    span = paddle.amax(cam, axis=[1, 2], keepdim=True) - lo
    flat = span <= 0
    safe = paddle.where(flat, paddle.ones_like(span), span)
    return paddle.where(flat.expand_as(cam), paddle.zeros_like(cam), (cam - lo) / safe)
    ### END SOLUTION
