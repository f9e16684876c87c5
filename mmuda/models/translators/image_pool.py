"""The history of generated images that CycleGAN's discriminators are updated with."""
from typing import List

import torch

Tensor = torch.Tensor


class ImagePool:
    """A buffer of up to ``size`` generated images (Shrivastava et al., CVPR 2017).

    Updating a discriminator on older generated images as well as the newest keeps it from
    chasing only the generator's latest mode, which damps the oscillation of GAN training;
    CycleGAN uses a pool of 50. :meth:`query` takes a batch of new images and returns a batch
    of the same size: while the pool fills up, the new images themselves (and they are stored);
    afterwards, for each image, with probability 1/2 a stored image (replaced by the new one),
    else the new image. ``size=0`` returns the new images unchanged.

    The pool lives in memory only: it is not part of checkpoints (50 full-size images would
    enlarge them by hundreds of MB), so a resumed run starts with an empty pool, as CycleGAN's
    own code does. Randomness comes from torch's global generator, which mmengine seeds.
    """

    def __init__(self, size: int) -> None:
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise ValueError(f'model.pool_size must be an integer >= 0, got {size!r}')
        self.size = size
        self.images: List[Tensor] = []

    def __len__(self) -> int:
        return len(self.images)

    def query(self, images: Tensor) -> Tensor:
        """A batch for the discriminator update, mixing ``images`` with stored ones."""
        images = images.detach()
        if self.size == 0:
            return images
        if self.images and self.images[0].shape != images.shape[1:]:
            raise ValueError(
                f'model.pool_size={self.size} keeps generated images of one size, got '
                f'{tuple(images.shape[1:])} after {tuple(self.images[0].shape)}: crop the '
                'training images to a fixed size, or set model.pool_size=0')
        out = []
        for image in images:
            if len(self.images) < self.size:
                self.images.append(image.clone())
                out.append(image)
            elif torch.rand(()).item() < 0.5:
                i = int(torch.randint(self.size, ()).item())
                out.append(self.images[i])
                self.images[i] = image.clone()
            else:
                out.append(image)
        return torch.stack(out)
