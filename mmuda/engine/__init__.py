from . import fileio, hooks, model_wrappers, optimizers  # noqa: F401
