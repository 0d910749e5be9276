"""The training arithmetic chosen from the hardware (facts faked: the rule, not the timing),
and the layer settings that let Keras use cuDNN on a GPU."""

from __future__ import annotations

import pytest

from nextword.training.hardware import Facts, choose_precision, cpu_facts

AMX = frozenset({"avx512f", "avx512_bf16", "amx_bf16", "amx_tile"})  # Intel Sapphire Rapids
ZEN4 = frozenset({"avx512f", "avx512_bf16"})                          # AMD EPYC Genoa
ICE_LAKE = frozenset({"avx512f", "avx512_vnni", "avx2"})              # no native bf16
LAPTOP = frozenset({"avx2", "fma"})


@pytest.mark.parametrize("flags,precision,why", [
    (AMX, "mixed_bfloat16", "AMX"),
    (ZEN4, "mixed_bfloat16", "AVX-512 BF16"),
    (ICE_LAKE, "float32", "no native bfloat16"),
    (LAPTOP, "float32", "no native bfloat16"),
    (frozenset(), "float32", "no native bfloat16"),
])
def test_the_three_cpu_kinds_met_so_far(flags, precision, why):
    choice = choose_precision(Facts("Xeon", flags))
    assert choice.precision == precision and why in choice.reason


@pytest.mark.parametrize("gpus,precision", [
    (((8, 0),), "mixed_bfloat16"), (((9, 0), (8, 6)), "mixed_bfloat16"),
    (((7, 5),), "float32"), (((8, 0), (7, 0)), "float32"),
])
def test_a_gpu_decides_whatever_the_cpu(gpus, precision):
    assert choose_precision(Facts("Xeon", AMX, gpus)).precision == precision
    assert choose_precision(Facts("Xeon", LAPTOP, gpus)).precision == precision


@pytest.mark.parametrize("flags", [AMX, ZEN4])
def test_a_narrow_network_trains_in_float32_even_where_bfloat16_is_native(flags):
    narrow = choose_precision(Facts("Xeon", flags), units=128)
    assert narrow.precision == "float32" and "128 units" in narrow.reason
    assert choose_precision(Facts("Xeon", flags), units=256).precision == "mixed_bfloat16"
    assert choose_precision(Facts("Xeon", flags, ((8, 0),)), units=128).precision == "mixed_bfloat16"


def test_this_machines_facts_are_read():
    facts = cpu_facts()
    assert isinstance(facts.cpu_flags, frozenset)
    assert choose_precision(facts).precision in ("float32", "mixed_bfloat16")


def test_a_gpu_gets_layers_that_keras_runs_on_cudnn():
    """Keras uses the cuDNN LSTM kernel only with tanh/sigmoid, no recurrent dropout, a
    bias and no unrolling (keras.layers.LSTM docs); on a CPU windows are unrolled."""
    from nextword.modeldir.settings import ModelConfig, TrainConfig
    from nextword.training.train import new_model

    cfg = ModelConfig(vocab_size=50, embedding_dim=8, units=8, layers=2)
    on_gpu = new_model(cfg, TrainConfig(precision="float32"), 100, gpu=True)
    for lstm in on_gpu.lstms:
        assert not lstm.unroll and lstm.use_cudnn in ("auto", True)
        assert lstm.cell.activation.__name__ == "tanh"
        assert lstm.cell.recurrent_activation.__name__ == "sigmoid"
        assert lstm.cell.recurrent_dropout == 0 and lstm.cell.use_bias
    on_cpu = new_model(cfg, TrainConfig(precision="float32"), 100, gpu=False)
    assert all(lstm.unroll for lstm in on_cpu.lstms)


def test_training_records_the_arithmetic_auto_chose(model_dir):
    from nextword.modeldir import directory

    config = directory.read_config(model_dir)
    recorded, units = config["training"]["precision"], config["model"]["units"]
    assert recorded == choose_precision(cpu_facts(), units).precision  # never "auto" in a model


def _train_tiny(tmp_path, precision, log):
    from nextword.modeldir.settings import TrainConfig
    from nextword.training.train import train

    from .conftest import TINY_MODEL, write_structured_corpus

    corpus = write_structured_corpus(tmp_path / "c.txt", sentences=300)
    cfg = TrainConfig(epochs=1, seq_len=20, batch_size=16, learning_rate=0.01, seed=1,
                      line_windows=False, precision=precision)
    train([str(corpus)], tmp_path / "m", cfg, TINY_MODEL, log=log)
    return tmp_path / "m"


def test_auto_on_an_amx_cpu_trains_a_narrow_network_in_float32(tmp_path, monkeypatch):
    from nextword.modeldir import directory
    from nextword.training import hardware

    monkeypatch.setattr(hardware, "training_facts", lambda: Facts("Xeon", AMX))
    lines = []
    model = _train_tiny(tmp_path, "auto", lines.append)
    arithmetic = [line for line in lines if line.startswith("Arithmetic:")]
    assert arithmetic == ["Arithmetic: float32, because Xeon has AMX (native bfloat16), but a network "
                          "of 32 units trains faster in float32 (bfloat16 from 256)"]
    assert directory.read_config(model)["training"]["precision"] == "float32"


def test_a_network_trained_in_bfloat16_is_saved_and_read_like_any_other(tmp_path):
    from nextword.modeldir import directory
    from nextword.prediction.lstm import Engine

    from .test_lstm import keras_next_probs

    model = _train_tiny(tmp_path, "mixed_bfloat16", lambda _m: None)
    assert directory.read_config(model)["training"]["precision"] == "mixed_bfloat16"
    engine, ids = Engine.load(model), [1, 5, 9, 4, 7, 3]
    assert abs(engine.distribution(ids) - keras_next_probs(model, ids)).max() <= 1e-4
