"""Functa as data: fit a latent per CIFAR-10 image, save them, classify images from their latents.

    python docs/examples/functa_classifier.py --data data --minutes 10

1. meta-train :class:`hyperfunc.fields.Functa` on the training images (the run layer:
   checkpoints, ``--resume``);
2. fit every image's latent (``encode``) and save them with the labels as ``modulations.pt``;
3. train the same small MLP classifier on the latents and on the raw pixels, and
   print both test accuracies.
"""

import argparse
from pathlib import Path

import torch
from torch import nn

import hyperfunc as hf
from hyperfunc.fields import FieldsConfig, Functa, train_fields

p = argparse.ArgumentParser()
p.add_argument("--data", default="data")
p.add_argument("--out", type=Path, default=Path("runs/functa-cifar10"))
p.add_argument("--latent", type=int, default=256)
p.add_argument("--minutes", type=float, default=10.0, help="meta-training time (0: none)")
p.add_argument("--model", type=Path, help="a saved Functa state dict to start from")
p.add_argument("--train", type=int, default=5000, help="training images (at most 5000 in ../shared/data)")
p.add_argument("--test", type=int, default=2000)
p.add_argument("--epochs", type=int, default=100, help="classifier epochs")
args = p.parse_args()

torch.manual_seed(0)
cifar = hf.datasets.load_cifar10(args.data)
x_train, y_train = torch.from_numpy(cifar.x_train[: args.train]), cifar.labels("train")[: args.train]
x_test, y_test = torch.from_numpy(cifar.x_test[: args.test]), cifar.labels("test")[: args.test]

# 1. meta-learn the shared SIREN, the latent-to-shift map and the inner rates
target = hf.stateless(hf.targets.siren(2, 3, hidden=(128,) * 5))
model = Functa(3, 32, target, latent_dim=args.latent)
if args.model:
    model.load_state_dict(torch.load(args.model, weights_only=True))
if args.minutes > 0:
    config = FieldsConfig(steps=1_000_000, time_limit=args.minutes, batch_size=32, lr=3e-4, progress=False)
    train_fields(model, x_train, config, out=args.out, overwrite=True)
args.out.mkdir(parents=True, exist_ok=True)

# 2. the functa: one latent per image, saved as plain tensors
z_train, z_test = model.encode(x_train), model.encode(x_test)
torch.save({"train": z_train, "train_labels": y_train, "test": z_test, "test_labels": y_test},
           args.out / "modulations.pt")


# 3. one classifier, two inputs
def accuracy(train: torch.Tensor, test: torch.Tensor) -> float:
    mean, std = train.mean(0), train.std(0) + 1e-6
    train, test = (train - mean) / std, (test - mean) / std
    net = nn.Sequential(nn.Linear(train.shape[1], 512), nn.ReLU(), nn.Dropout(0.3), nn.Linear(512, 10))
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=1e-2)
    for _ in range(args.epochs):
        for idx in torch.randperm(len(train)).split(128):
            loss = nn.functional.cross_entropy(net(train[idx]), y_train[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    net.eval()
    with torch.no_grad():
        return float((net(test).argmax(1) == y_test).float().mean())


pixels = accuracy(x_train.flatten(1).float() / 255, x_test.flatten(1).float() / 255)
latents = accuracy(z_train, z_test)
print(f"test accuracy from latents ({args.latent} numbers): {100 * latents:.1f} %; "
      f"from pixels (3072 numbers): {100 * pixels:.1f} %")
