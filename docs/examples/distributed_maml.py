"""Second-order MAML in your own loop on two processes: torchrun --nproc-per-node 2 distributed_maml.py"""

import torch
import torch.nn.functional as F

import hyperfunc as hf
import hyperfunc.distributed as hd
from hyperfunc.fewshot import Sinusoid
from hyperfunc.inner import SGD, adapt_batched

world = hd.init("cpu")  # joins torchrun's processes (gloo); without torchrun: one process
torch.manual_seed(0)  # the same initial weights on every process
module = hf.targets.mlp(1, 1, hidden=(40, 40))
target = hf.stateless(module)
theta = {k: p.detach().clone().requires_grad_() for k, p in module.named_parameters()}
opt = torch.optim.Adam(theta.values(), lr=1e-3)
tasks = Sinusoid(k_shot=10, q_query=10, batch_size=8, seed=0)  # every process draws the same tasks

for step in range(101):
    batch, weight = hd.shard(tasks.batch(step))  # this process's tasks and its share of them
    fast = adapt_batched(target, theta, F.mse_loss, batch.x_support, batch.y_support, optimizer=SGD(lr=0.01))
    loss = torch.func.vmap(F.mse_loss)(target.batched(fast, batch.x_query), batch.y_query).mean()
    opt.zero_grad()
    (loss * weight).backward()  # summed over the processes: the whole meta-batch's loss
    hd.all_reduce_gradients(theta.values())  # once per step, through the inner loop (DDP can't)
    opt.step()
    whole = hd.reduce_sum(loss.detach() * weight)  # the meta-batch's loss, on every process
    if world.main and step % 50 == 0:  # rank 0 alone prints and writes
        print(f"step {step}: query MSE {float(whole):.3f}")
if world.main:
    torch.save(theta, "maml.pt")
hd.shutdown()
