"""The networks of QIPO as qipo builds them (src/nn/mlp.rs, src/flow/velocity.rs,
src/rl/critic.rs), in plain PyTorch modules.

nn.Linear's default initialisation (W and b uniform in +-1/sqrt(fan_in)) is the one qipo's
MlpSpec::init_params mirrors, so the modules are left at their defaults.
"""

import math

import torch
from torch import nn


def mlp(inputs: int, hidden: list[int], outputs: int, activation: type[nn.Module]) -> nn.Sequential:
    """`inputs -> hidden[0] -> ... -> outputs`, the activation after every hidden layer and none
    after the output layer (MlpSpec)."""
    widths = [inputs, *hidden]
    layers: list[nn.Module] = []
    for fan_in, fan_out in zip(widths, widths[1:]):
        layers += [nn.Linear(fan_in, fan_out), activation()]
    layers.append(nn.Linear(widths[-1], outputs))
    return nn.Sequential(*layers)


class VelocityNet(nn.Module):
    """v(x_t, t, s): the MLP on [x_t, sin(2*pi*t*w), cos(2*pi*t*w), s], w fixed Gaussian Fourier
    frequencies drawn from N(0, scale^2) (QGPO's GaussianFourierProjection, without its extra
    linear layer, as in qipo)."""

    def __init__(self, act_dim: int, obs_dim: int, hidden: list[int], time_features: int, time_scale: float):
        super().__init__()
        self.act_dim = act_dim
        # A buffer, not a parameter: Adam never sees it, a checkpoint keeps it.
        self.register_buffer("frequencies", torch.randn(time_features // 2) * time_scale)
        self.mlp = mlp(act_dim + time_features + obs_dim, hidden, act_dim, nn.Mish)

    def forward(self, x: torch.Tensor, t: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        """x: rows x act_dim, t: rows, s: rows x obs_dim."""
        angle = (2 * math.pi) * t[:, None] * self.frequencies
        return self.mlp(torch.cat([x, torch.sin(angle), torch.cos(angle), s], dim=1))


class TwinCritic(nn.Module):
    """Two independent Q heads on [a, s] (qipo's StateActionInput puts the action first)."""

    def __init__(self, act_dim: int, obs_dim: int, hidden: list[int]):
        super().__init__()
        self.q1 = mlp(act_dim + obs_dim, hidden, 1, nn.ReLU)
        self.q2 = mlp(act_dim + obs_dim, hidden, 1, nn.ReLU)

    def forward(self, a: torch.Tensor, s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Both heads' values, each of shape rows."""
        x = torch.cat([a, s], dim=1)
        return self.q1(x).squeeze(1), self.q2(x).squeeze(1)


def value_net(obs_dim: int, hidden: list[int]) -> nn.Sequential:
    """IQL's V(s)."""
    return mlp(obs_dim, hidden, 1, nn.ReLU)
