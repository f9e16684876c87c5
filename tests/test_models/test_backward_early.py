"""AlternatingModel.backward_early: AdaptSegNet backpropagates the source losses before the
target pass when the domains take separate passes (as the reference loop does); the update
is the same as with one backward, and a non-finite later term still skips the whole step."""
import copy

import torch

from test_models.test_adaptsegnet import build_adaptsegnet, make_batch, sgd_wrappers


def two_pass_model():
    torch.manual_seed(0)
    model = build_adaptsegnet()
    model.concat_forward = False  # separate passes: the source backward can come first
    return model


def grads_at_target_pass(model) -> list:
    """Whether the segmentor had gradients when the backbone started each pass."""
    seen = []
    model.segmentor.backbone.register_forward_pre_hook(lambda m, _a: seen.append(
        any(p.grad is not None for p in m.parameters())))
    return seen


def test_source_backward_comes_before_the_target_pass_with_the_same_update():
    early = two_pass_model()
    single = copy.deepcopy(early)
    single.backward_early = lambda losses: losses  # everything in the one final backward
    seen_early, seen_single = grads_at_target_pass(early), grads_at_target_pass(single)
    log_early = early.train_step(make_batch(), sgd_wrappers(early))
    log_single = single.train_step(make_batch(), sgd_wrappers(single))
    assert seen_early == [False, True] and seen_single == [False, False]
    assert log_early.keys() == log_single.keys()
    for key in log_early:
        # the same float32 operations; only the logged total sums its terms in another order
        torch.testing.assert_close(log_early[key], log_single[key], rtol=1e-6, atol=0,
                                   msg=key)
    for (name, p), q in zip(early.named_parameters(), single.parameters()):
        # each parameter's gradient is g_source + g_target in both (one float addition, which
        # commutes), so the updates are equal up to that addition's rounding
        torch.testing.assert_close(p, q, rtol=1e-6, atol=1e-7, msg=name)


def test_a_nonfinite_target_term_skips_the_step_after_an_early_source_backward():
    model = two_pass_model()
    model.nonfinite_loss = 'skip'
    model.adv_weights['main'] = float('nan')
    wrappers = sgd_wrappers(model)
    before = {n: p.detach().clone() for n, p in model.segmentor.named_parameters()}
    seen = grads_at_target_pass(model)
    log = model.train_step(make_batch(), wrappers)
    assert seen == [False, True]  # the source part was backpropagated early
    assert float(log['nonfinite_skipped']) == 1.0
    for name, p in model.segmentor.named_parameters():
        assert torch.equal(p, before[name]), name
        assert p.grad is None, name  # the early gradients were dropped
