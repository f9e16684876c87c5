from . import model_wrappers, optimizers  # noqa: F401
