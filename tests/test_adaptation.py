"""How much the predictor adapts as it goes, fitted at the end of training
(prediction/adaptation.py), and what config.json's "adaptation" may hold."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nextword.errors import ModelError
from nextword.frontends.learning import Learner
from nextword.modeldir import directory
from nextword.prediction import adaptation, mixture
from nextword.prediction.predictor import Predictor

# Lines the NumPy model (a bigram of the structured corpus) finds unlikely: each subject
# with another subject's verb. Read again and again, learning them pays.
SWAPPED = ["The cat barks at home.", "A dog sleeps by the river.", "My friend sings on the hill."]


def fitted_on(predictor: Predictor, lines: list[str], rounds: int = 12):
    ids = []
    for _ in range(rounds):
        for line in lines:
            ids += predictor.context_ids(line)
    ids.append(predictor.eol_id)
    lstm = predictor.mixture.components["lstm"]
    config, columns = mixture.fit_columns(lstm, predictor.mixture.components.get("ngram"),
                                          predictor.id_to_token, ids)
    return ids, config, adaptation.fit(lstm, ids, predictor.eol_id, columns)


def test_fit_adapts_to_a_text_that_repeats_what_the_model_finds_unlikely(numpy_model_dir):
    """The LSTM alone (in the full mixture the recent-pairs cache learns such a text at
    once, and leaves the network little to gain: the next test)."""
    predictor = Predictor.load(numpy_model_dir, user_db=None)
    kernel = predictor.engine.output_kernel.copy()
    ids = np.asarray(sum((predictor.context_ids(line) for line in SWAPPED * 12), []) + [predictor.eol_id])
    lstm = predictor.mixture.components["lstm"]
    probs = mixture.target_probs({"lstm": lstm}, ids)
    columns = mixture.Columns(probs, np.ones_like(probs), np.ones(1), np.ones(len(probs), dtype=bool))
    adapted = adaptation.fit(lstm, ids, predictor.eol_id, columns)
    ppl = adapted["perplexity"]
    static = math.exp(-np.log(probs[:, 0]).mean())
    assert ppl["static"] == pytest.approx(static, rel=1e-3)
    assert ppl["learning"] < 0.7 * ppl["static"]
    assert adapted["step"] > 0 and adapted["cache_lambda"] > 0
    assert adapted["lines"] == 35 and adapted["fitted_on"] == len(ids) - 1
    assert np.array_equal(predictor.engine.output_kernel, kernel)  # the fit stepped a copy


def test_in_the_full_mixture_the_fit_adapts_where_it_pays(numpy_model_dir):
    predictor = Predictor.load(numpy_model_dir, user_db=None)
    _, config, adapted = fitted_on(predictor, SWAPPED)
    ppl = adapted["perplexity"]
    assert ppl["static"] == pytest.approx(config["perplexity"]["mixture"], rel=1e-3)
    assert ppl["learning"] <= ppl["static"]


def test_fit_on_text_like_the_model_does_not_adapt_by_much(numpy_model_dir, structured_corpus):
    predictor = Predictor.load(numpy_model_dir, user_db=None)
    lines = structured_corpus.read_text().splitlines()[:40]
    _, _, adapted = fitted_on(predictor, lines, rounds=1)
    ppl = adapted["perplexity"]
    assert ppl["learning"] <= ppl["static"]  # step 0 and weight 0 are on the grid
    assert ppl["learning"] > 0.9 * ppl["static"]


@pytest.mark.parametrize("settings", [adaptation.Settings(1.5, 0.02, 20.0, 0.1),
                                      adaptation.Settings(0.0, 0.02, 5.0, 0.3),
                                      adaptation.Settings(4.0, 0.0, 20.0, 0.0)])
def test_the_fit_reads_the_text_as_learning_as_you_go_does(numpy_model_copy, settings):
    """What the fit scores a setting by is what `evaluate --learn` (frontends/learning.py)
    measures with it on the same tokens, the store aside; blank lines (learned by neither)
    among them."""
    predictor = Predictor.load(numpy_model_copy, user_db=None)
    ids, weights, _ = fitted_on(predictor, [*SWAPPED[:2], "", SWAPPED[2], ""])
    lstm = predictor.mixture.components["lstm"]
    ngram = predictor.mixture.components.get("ngram")
    _, columns = mixture.fit_columns(lstm, ngram, predictor.id_to_token, ids)
    simulated = adaptation.learning_perplexity(lstm, ids, predictor.eol_id, columns, settings)
    directory.update_config(numpy_model_copy, lambda c: c.update(
        mixture=weights, adaptation={**settings.as_config(), "fitted_on": 0, "lines": 0}))
    predictor = Predictor.load(numpy_model_copy, user_db=None)
    assert predictor.settings == settings
    learner = Learner(predictor, None)
    ids = np.asarray(ids)
    rows = np.concatenate([rows for _, rows in learner.stream_log_probs(ids)])
    known = ids[1:] != predictor.unk_id
    log_p = rows[np.arange(len(ids) - 1), ids[1:]][known]
    assert math.exp(-log_p.mean()) == pytest.approx(simulated, rel=1e-4)
    static = math.exp(-np.log(columns.mixed()).mean())
    assert abs(simulated / static - 1) > 1e-3  # (each setting moves it: the test tells them apart)


def test_a_model_without_adaptation_settings_gets_the_defaults(numpy_model_dir):
    assert adaptation.from_config({}) == adaptation.Settings()
    config = directory.read_config(numpy_model_dir)
    assert Predictor.load(numpy_model_dir, user_db=None).settings == adaptation.from_config(config)


GOOD = {"step": 1.0, "decay": 0.02, "cache_theta": 20, "cache_lambda": 0.1}


@pytest.mark.parametrize("value", [{**GOOD, "step": "1"}, {**GOOD, "cache_lambda": 1.5},
                                   {**GOOD, "step": float("nan")}, {**GOOD, "decay": True},
                                   {**GOOD, "step": 10**400},
                                   {"step": 1.0}, [1, 2], "fast"])
def test_invalid_adaptation_settings_are_a_model_error(value, numpy_model_copy):
    with pytest.raises(ModelError, match="adaptation"):
        adaptation.from_config({"adaptation": value})
    directory.update_config(numpy_model_copy, lambda c: c.update(adaptation=value))
    with pytest.raises(ModelError, match="adaptation"):
        Predictor.load(numpy_model_copy, user_db=None)


@pytest.mark.parametrize("perplexity", [[1, 2], "x", {"static": 10**400, "learning": 1.0},
                                        {"static": float("nan"), "learning": 2}])
def test_info_shows_a_model_whose_fit_summary_is_odd(numpy_model_copy, perplexity):
    from click.testing import CliRunner

    from nextword.cli.main import cli

    odd = {**GOOD, "perplexity": perplexity}
    directory.update_config(numpy_model_copy, lambda c: c.update(adaptation=odd))
    result = CliRunner().invoke(cli, ["info", "-m", str(numpy_model_copy)])
    assert result.exit_code == 0 and "learning as you go     output layer step 1" in result.stdout


def test_a_mixture_weight_of_400_digits_is_a_model_error(numpy_model_copy):
    directory.update_config(numpy_model_copy, lambda c: c["mixture"]["weights"].update(lstm=10**400))
    with pytest.raises(ModelError, match="mixture weights"):
        Predictor.load(numpy_model_copy, user_db=None)


def test_one_reading_of_the_network_serves_both_fits_as_two_would(numpy_model_dir):
    """Training reads the validation tokens with the network once (adaptation.Reading) for
    the mixture's fit and the adaptation's: the same fits as each reading for itself."""
    predictor = Predictor.load(numpy_model_dir, user_db=None)
    ids = np.asarray(sum((predictor.context_ids(line) for line in SWAPPED * 12), []) + [predictor.eol_id])
    lstm, ngram = predictor.mixture.components["lstm"], predictor.mixture.components.get("ngram")
    config, columns = mixture.fit_columns(lstm, ngram, predictor.id_to_token, ids)
    adapted = adaptation.fit(lstm, ids, predictor.eol_id, columns)
    network_read = adaptation.Reading(lstm, ids)
    shared_config, shared_columns = mixture.fit_columns(network_read, ngram, predictor.id_to_token, ids)
    np.testing.assert_allclose(shared_columns.probs, columns.probs, rtol=1e-5)
    assert shared_config["weights"] == pytest.approx(config["weights"], abs=1e-5)
    shared = adaptation.fit(lstm, ids, predictor.eol_id, shared_columns, hidden=network_read.hidden)
    assert {k: v for k, v in shared.items() if k != "perplexity"} == {
        k: v for k, v in adapted.items() if k != "perplexity"}
    assert shared["perplexity"] == pytest.approx(adapted["perplexity"], rel=1e-5)
    with pytest.raises(ValueError):
        network_read.target_probs(ids[1:])  # not the tokens it read
    with pytest.raises(ValueError):
        adaptation.fit(lstm, ids, predictor.eol_id, columns, hidden=network_read.hidden[1:])


def test_a_text_without_line_ends_is_no_ground_to_fit_on(numpy_model_dir):
    """Nothing learned at a line end can be measured: an error (training then keeps the
    default settings), not settings that turn learning off."""
    predictor = Predictor.load(numpy_model_dir, user_db=None)
    ids = np.asarray(predictor.context_ids(" ".join(SWAPPED * 20)))
    lstm = predictor.mixture.components["lstm"]
    _, columns = mixture.fit_columns(lstm, None, predictor.id_to_token, ids)
    with pytest.raises(ValueError, match="no line end"):
        adaptation.fit(lstm, ids, predictor.eol_id, columns)
