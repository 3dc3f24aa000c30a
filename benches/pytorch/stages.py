"""The stages of QIPO (ALGORITHM.md section 4) in plain PyTorch, step for step what qipo's
EfmTrainer, SupportSampler, CriticTrainer and PolicyImprover record (src/flow/efm.rs,
src/rl/support.rs, src/rl/critic.rs, src/rl/improve.rs).

Every class takes `compile`, a function applied to its hot functions: the identity for eager
PyTorch, torch.compile(mode="reduce-overhead") for CUDA graphs. Random numbers are drawn on the
device inside those functions, as qipo draws them inside its kernels.
"""

import copy
from dataclasses import dataclass
from typing import Callable

import torch

from nets import TwinCritic, VelocityNet

Compile = Callable[[Callable], Callable]

# States per chunk of support sampling and of the renewal's Q values (qipo's CHUNK_STATES).
CHUNK_STATES = 4096


@dataclass
class DeviceDataset:
    """The transitions on the device; rows of one index belong together."""

    observations: torch.Tensor  # len x obs_dim
    actions: torch.Tensor  # len x act_dim
    rewards: torch.Tensor  # len
    next_observations: torch.Tensor  # len x obs_dim
    dones: torch.Tensor  # len, 1.0 at terminals

    def __len__(self) -> int:
        return self.rewards.shape[0]

    def draw(self, batch: int) -> torch.Tensor:
        """Minibatch indices, uniform with replacement like qipo's MinibatchSampler."""
        return torch.randint(len(self), (batch,), device=self.rewards.device)


def flow_pairs(x1: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """x_t, t and the target velocity x1 - x0 on the straight path, one fresh x0 ~ N(0, I) and
    t ~ U(0, 1) per row (shaders/flow_pairs.wgsl)."""
    x0 = torch.randn_like(x1)
    t = torch.rand(x1.shape[0], device=x1.device)
    x_t = (1 - t[:, None]) * x0 + t[:, None] * x1
    return x_t, t, x1 - x0


def polyak(target: list[torch.Tensor], online: list[torch.Tensor], tau: float) -> None:
    """target <- tau * online + (1 - tau) * target, one foreach call for all tensors."""
    with torch.no_grad():
        torch._foreach_lerp_(target, online, tau)


class EulerSampler:
    """x0 ~ N(0, I), then `steps` steps x <- x + v(x, k/steps, s)/steps, clipped to [-1, 1] after
    the last (src/flow/sampler.rs)."""

    def __init__(self, policy: VelocityNet, steps: int, compile: Compile):
        self.policy = policy
        self.steps = steps
        self.sample = compile(self._sample)

    @torch.no_grad()
    def _sample(self, states: torch.Tensor, repeat: int) -> torch.Tensor:
        """`repeat` actions for each state, the actions of one state in consecutive rows."""
        cond = states.repeat_interleave(repeat, dim=0)
        x = torch.randn(cond.shape[0], self.policy.act_dim, device=states.device)
        for k in range(self.steps):
            t = torch.full((cond.shape[0],), k / self.steps, device=states.device)
            x = x + self.policy(x, t, cond) / self.steps
        return x.clamp(-1.0, 1.0)

    def fill(self, states: torch.Tensor, out: torch.Tensor) -> None:
        """M actions for every state into out (len x M x act_dim), chunk by chunk
        (SupportSampler::record_all)."""
        m = out.shape[1]
        for first in range(0, states.shape[0], CHUNK_STATES):
            chunk = states[first : first + CHUNK_STATES]
            out[first : first + chunk.shape[0]] = self.sample(chunk, m).view(chunk.shape[0], m, -1)


class BehaviourTrainer:
    """Stage 1: conditional flow matching on dataset (s, a) pairs. qipo runs this as EFM with
    beta = 0, whose weights are all 1/batch: the mean over rows of the squared error."""

    def __init__(self, data: DeviceDataset, policy: VelocityNet, batch: int, lr: float, compile: Compile):
        self.data, self.policy, self.batch = data, policy, batch
        self.opt = torch.optim.Adam(policy.parameters(), lr=lr)
        self.step = compile(self._step)

    def _step(self) -> None:
        i = self.data.draw(self.batch)
        x_t, t, velocity = flow_pairs(self.data.actions[i])
        predicted = self.policy(x_t, t, self.data.observations[i])
        loss = (predicted - velocity).square().sum(dim=1).mean()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()


class CriticTrainer:
    """Stage 3: the twin critic with Polyak targets; the in-support softmax target (QGPO) or,
    with a value network, IQL's expectile regression."""

    def __init__(
        self,
        data: DeviceDataset,
        next_support: torch.Tensor,
        critic: TwinCritic,
        value: torch.nn.Module | None,
        batch: int,
        compile: Compile,
        lr: float = 3e-4,
        gamma: float = 0.99,
        tau: float = 0.005,
        alpha_q: float = 1.0,
        expectile: float = 0.7,
    ):
        self.data, self.next_support, self.critic, self.value = data, next_support, critic, value
        self.batch, self.gamma, self.tau, self.alpha_q, self.expectile = batch, gamma, tau, alpha_q, expectile
        self.target = copy.deepcopy(critic).requires_grad_(False)
        self.online_params = list(critic.parameters())
        self.target_params = list(self.target.parameters())
        # One Adam over both heads: Adam is elementwise, so this is qipo's one Adam per head.
        self.opt = torch.optim.Adam(self.online_params, lr=lr)
        self.value_opt = torch.optim.Adam(value.parameters(), lr=lr) if value is not None else None
        self.step = compile(self._step)

    @torch.no_grad()
    def softmax_target(self, i: torch.Tensor, r: torch.Tensor, s2: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
        """y = r + gamma (1 - d) sum_j softmax_j(alpha Q'(s', a'_j)) Q'(s', a'_j), Q' the min of
        the target heads over the M support actions of s' (shaders/td_target.wgsl)."""
        support = self.next_support[i]  # batch x M x act_dim
        m = support.shape[1]
        q = torch.minimum(*self.target(support.flatten(0, 1), s2.repeat_interleave(m, dim=0))).view(-1, m)
        v = (torch.softmax(self.alpha_q * q, dim=1) * q).sum(dim=1)
        return r + self.gamma * (1 - d) * v

    def iql_target(self, s, a, r, s2, d) -> torch.Tensor:
        """V(s) takes an Adam step towards the expectile of min Q'(s, a), then
        y = r + gamma (1 - d) V(s') with the updated V, as in IQL and qipo."""
        with torch.no_grad():
            q = torch.minimum(*self.target(a, s))
        u = q - self.value(s).squeeze(1)
        weight = torch.abs(self.expectile - (u < 0).float())
        value_loss = (weight * u.square()).mean()
        self.value_opt.zero_grad(set_to_none=True)
        value_loss.backward()
        self.value_opt.step()
        with torch.no_grad():
            return r + self.gamma * (1 - d) * self.value(s2).squeeze(1)

    def _step(self) -> None:
        d, i = self.data, self.data.draw(self.batch)
        s, a, r, s2, done = d.observations[i], d.actions[i], d.rewards[i], d.next_observations[i], d.dones[i]
        if self.value is None:
            y = self.softmax_target(i, r, s2, done)
        else:
            y = self.iql_target(s, a, r, s2, done)
        q1, q2 = self.critic(a, s)
        loss = (q1 - y).square().mean() + (q2 - y).square().mean()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        polyak(self.target_params, self.online_params, self.tau)


class PolicyImprover:
    """Stage 4: every state's support set [dataset action, M actions of the current policy] with
    weights g_ij = softmax_j(beta min(Q1, Q2)(s_i, a_ij)), computed at renewal; each step is
    weighted flow matching on batch x (M + 1) pairs, L = sum_ij g_ij |v - u|^2 / batch."""

    def __init__(
        self,
        data: DeviceDataset,
        policy: VelocityNet,
        critic: TwinCritic,
        sampler: EulerSampler,
        m: int,
        batch: int,
        compile: Compile,
        lr: float = 1e-4,
        beta: float = 3.0,
    ):
        self.data, self.policy, self.critic, self.sampler = data, policy, critic, sampler
        self.batch, self.beta = batch, beta
        n, act_dim = data.actions.shape
        self.support = torch.zeros(n, m + 1, act_dim, device=data.actions.device)
        self.support[:, 0] = data.actions
        self.weights = torch.zeros(n, m + 1, device=data.actions.device)
        self.q_values = torch.zeros_like(self.weights)
        self.opt = torch.optim.Adam(policy.parameters(), lr=lr)
        self.values = compile(self._values)
        self.step = compile(self._step)

    @torch.no_grad()
    def _values(self, support: torch.Tensor, states: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """min(Q1, Q2) of every support action of a chunk of states, and their weights."""
        group = support.shape[1]
        q = torch.minimum(*self.critic(support.flatten(0, 1), states.repeat_interleave(group, dim=0)))
        q = q.view(-1, group)
        return q, torch.softmax(self.beta * q, dim=1)

    def renew(self) -> None:
        """M fresh actions per state from the current policy, then their Q values and weights
        (PolicyImprover::record_renewal)."""
        states = self.data.observations
        self.sampler.fill(states, self.support[:, 1:])
        for first in range(0, states.shape[0], CHUNK_STATES):
            last = min(first + CHUNK_STATES, states.shape[0])
            q, w = self.values(self.support[first:last], states[first:last])
            self.q_values[first:last] = q
            self.weights[first:last] = w

    def _step(self) -> None:
        i = self.data.draw(self.batch)
        x1, w = self.support[i], self.weights[i]  # batch x (M+1) x act_dim, batch x (M+1)
        group = x1.shape[1]
        x_t, t, velocity = flow_pairs(x1.flatten(0, 1))
        predicted = self.policy(x_t, t, self.data.observations[i].repeat_interleave(group, dim=0))
        loss = (w.flatten() * (predicted - velocity).square().sum(dim=1)).sum() / self.batch
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
