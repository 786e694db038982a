"""gpt2 / bert_base carry their LM heads and real losses; the headless measured modules stay available."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

import workloads  # noqa: E402
from workloads.models import causal_lm_loss, masked_lm_loss, mlm_labels  # noqa: E402

GPT2_VOCAB, BERT_VOCAB, D = 50257, 30522, 768


def _lm_matmuls(g, module):
    return [o for o in g if o.kind == "matmul" and o.module == module]


def test_gpt2_training_step_has_lm_head_gemms_and_vocab_cross_entropy():
    b, s = 2, 32
    g = workloads.extract_model("gpt2", batch=b, mode="train", seq_len=s)
    assert g.meta["loss"] == "causal_lm_cross_entropy"
    head = _lm_matmuls(g, "lm_head")
    # forward logits GEMM (B*S x V x D) and its two backward GEMMs (grad input, grad weight)
    assert [o.phase for o in head] == ["forward", "backward", "backward"]
    fwd = head[0]
    assert (fwd.attrs["M"], fwd.attrs["N"], fwd.attrs["K"]) == (b * s, GPT2_VOCAB, D)
    assert all(o.flops == 2 * b * s * GPT2_VOCAB * D for o in head)
    # cross-entropy over the vocabulary, attributed to the loss (forward and backward)
    loss_ops = [o for o in g if o.module == "loss"]
    assert {(o.phase, o.kind) for o in loss_ops} >= {("forward", "softmax"), ("forward", "loss"),
                                                     ("backward", "loss"), ("backward", "softmax")}
    lsm = next(o for o in loss_ops if o.kind == "softmax" and o.phase == "forward")
    assert lsm.inputs[0].shape == (b * s, GPT2_VOCAB) and lsm.dtype == "fp32"
    # the headless module of the measurements lacks exactly these three GEMMs
    headless = workloads.extract_model("gpt2_headless", batch=b, mode="train", seq_len=s)
    assert not _lm_matmuls(headless, "lm_head") and headless.meta["loss"] == "mean_square"
    assert g.total_flops - headless.total_flops == 3 * 2 * b * s * GPT2_VOCAB * D


def test_gpt2_inference_returns_logits_and_tied_weights_count_once():
    g = workloads.extract_model("gpt2", batch=1, seq_len=16)
    head = _lm_matmuls(g, "lm_head")
    assert len(head) == 1 and head[0].outputs[0].shape == (16, GPT2_VOCAB)
    # lm_head.weight is transformer.wte.weight: 124,439,808 parameters (as GPT2Model), stored once
    assert g.meta["params"] == 124439808
    assert g.meta["param_bytes"] == 4 * 124439808
    assert sum(w.bytes for w in head[0].weights) == 4 * GPT2_VOCAB * D
    assert workloads.extract_model("gpt2", dtype="bf16", seq_len=16).meta["param_bytes"] == 2 * 124439808


def test_bert_base_is_masked_lm_with_tied_decoder():
    b, s = 1, 32
    g = workloads.extract_model("bert", batch=b, mode="train", seq_len=s)
    assert g.meta["model"] == "bert_base" and g.meta["loss"] == "masked_lm_cross_entropy"
    dec = _lm_matmuls(g, "cls.predictions.decoder")
    assert [o.phase for o in dec] == ["forward", "backward", "backward"]
    assert (dec[0].attrs["M"], dec[0].attrs["N"], dec[0].attrs["K"]) == (b * s, BERT_VOCAB, D)
    lsm = next(o for o in g if o.module == "loss" and o.kind == "softmax" and o.phase == "forward")
    assert lsm.inputs[0].shape == (b * s, BERT_VOCAB)
    # BertForMaskedLM: no pooler, transform + decoder bias; decoder weight = word embeddings (counted once)
    assert g.meta["params"] == 109514298 and g.meta["param_bytes"] == 4 * 109514298
    headless = workloads.extract_model("bert_headless", batch=b, mode="train", seq_len=s)
    assert headless.meta["params"] == 109482240 and not _lm_matmuls(headless, "cls.predictions.decoder")


def test_losses_equal_the_models_own_loss_on_real_tensors():
    """causal_lm_loss / masked_lm_loss compute what ``model(ids, labels=...).loss`` computes."""
    from transformers import BertConfig, BertForMaskedLM, GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    gpt = GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=32, n_head=2, vocab_size=97, n_positions=16)).eval()
    ids = torch.randint(0, 97, (2, 12))
    with torch.no_grad():
        ours = causal_lm_loss(gpt, ids)(gpt(ids))
        ref = gpt(ids, labels=ids).loss
    assert torch.allclose(ours, ref)

    bert = BertForMaskedLM(BertConfig(num_hidden_layers=1, hidden_size=32, num_attention_heads=2,
                                      intermediate_size=64, vocab_size=89, max_position_embeddings=64)).eval()
    ids = torch.randint(0, 89, (4, 48))
    torch.manual_seed(1)
    loss_fn = masked_lm_loss(bert, ids)
    torch.manual_seed(1)
    labels = mlm_labels(ids)
    with torch.no_grad():
        assert torch.allclose(loss_fn(bert(ids)), bert(ids, labels=labels).loss)
    frac = (mlm_labels(torch.zeros(200, 512, dtype=torch.long)) != -100).float().mean().item()
    assert 0.14 < frac < 0.16


def test_validation_compares_like_with_like():
    """The validate harness maps the measured names onto the headless modules the H100 runs measured."""
    from accel.validate.predictor import MODEL_ALIASES

    assert workloads.MEASURED_MODELS == {"gpt2": "gpt2_headless", "bert_base": "bert_headless"}
    for measured, name in workloads.MEASURED_MODELS.items():
        assert MODEL_ALIASES[measured] == name and name in workloads.list_models()
    g = workloads.extract_model("gpt2_headless", seq_len=16)
    assert g.ops(kind="attention")[0].module == "h.0.attn"  # layers.csv names (no "transformer." prefix)
