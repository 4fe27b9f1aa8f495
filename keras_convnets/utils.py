"""Small helpers shared by layers and builders: argument checks and channel rounding."""


def make_divisible(value, divisor=8, min_value=None, round_limit=0.9):
    """Rounds a channel count to a multiple of ``divisor``.

    The rounding rule of the MobileNet family (and timm's SE width rounding): round to the
    nearest multiple, but never go below ``round_limit`` of the requested value.
    """
    min_value = divisor if min_value is None else min_value
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if rounded < round_limit * value:
        rounded += divisor
    return rounded


def check_choice(argument, value, allowed):
    """Raises a ValueError naming ``argument`` when ``value`` is not one of ``allowed``."""
    if value not in allowed:
        raise ValueError(
            f"`{argument}` must be one of {', '.join(repr(a) for a in allowed)}; got {value!r}."
        )
    return value


def check_bool(argument, value):
    """``value`` if it is a boolean (numpy's included), else a ValueError naming ``argument``."""
    if isinstance(value, bool) or type(value).__name__ == "bool_":
        return bool(value)
    raise ValueError(f"`{argument}` must be True or False; got {value!r}.")


def check_positive_int(argument, value, minimum=1):
    """Raises a ValueError naming ``argument`` unless ``value`` is an integer >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"`{argument}` must be an integer >= {minimum}; got {value!r}.")
    return value


def check_rate(argument, value):
    """Raises a ValueError naming ``argument`` unless ``0 <= value < 1``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ValueError(f"`{argument}` must be a number in [0, 1); got {value!r}.")
    return float(value)


def check_drop_path(value, has_residuals, what,
                    instead="use drop_rate for dropout before the classifier"):
    """``value`` checked as a rate; a non-zero rate is a ValueError where ``what`` has no
    residual branch for stochastic depth to drop (``instead`` says what to use)."""
    value = check_rate("drop_path_rate", value)
    if value and not has_residuals:
        raise ValueError(f"`drop_path_rate`={value} needs residual blocks, and {what} has none; "
                         f"{instead}.")
    return value


def check_groups(argument, groups, channels, what="channels"):
    """Raises a ValueError unless ``groups`` is a positive integer that divides ``channels``."""
    check_positive_int(argument, groups)
    if channels % groups:
        raise ValueError(
            f"`{argument}`={groups} does not divide the {channels} {what}; it must be a divisor "
            f"of {channels}."
        )
    return groups
