"""The privacy audit has power: a correct DP fit's bound stays at or below its claim, while fits with
DP-SGD's noise or clipping removed (their ledgers still claiming the same epsilon) are caught."""

from __future__ import annotations

import numpy as np
import pytest

from tabsynth.privacy.audit import (broken_dp_sgd, one_run_lower_bound, one_run_p_value, run_audit,
                                    two_run_lower_bound)

CLAIM = 1.0


@pytest.fixture(scope="module")
def table(shoppers):
    return shoppers


def test_statistics_of_the_one_run_bound():
    # Guessing at chance gives nothing; perfect guesses give a bound that grows with the guesses.
    assert one_run_lower_bound(1000, 200, 100, 1e-5, 0.05) == 0.0
    assert 0 < one_run_lower_bound(1000, 50, 50, 1e-5, 0.05) < one_run_lower_bound(1000, 200, 200, 1e-5, 0.05)
    # The bound is the epsilon at which the p-value crosses the level.
    eps = one_run_lower_bound(1000, 200, 180, 1e-5, 0.05)
    assert one_run_p_value(1000, 200, 180, eps * 0.99, 1e-5) < 0.05 <= one_run_p_value(1000, 200, 180, eps * 1.01, 1e-5)
    rng = np.random.default_rng(0)
    assert two_run_lower_bound(rng.normal(size=500), rng.normal(size=500), 1e-5) < 0.5
    assert two_run_lower_bound(rng.normal(5, 1, 500), rng.normal(size=500), 1e-5) > 2


@pytest.mark.parametrize("broken", [None, {"noise": False}, {"clipping": False}],
                         ids=["correct", "no-noise", "no-clipping"])
def test_audit_bound_is_below_the_claim_only_for_a_correct_fit(table, broken):
    if broken is None:
        result = run_audit(table, epsilon=CLAIM, canaries=1000, random_state=0)
        assert result.epsilon_lower_bound <= CLAIM
        assert result.consistent
    else:
        with broken_dp_sgd(**broken):
            result = run_audit(table, epsilon=CLAIM, canaries=1000, random_state=0)
        assert result.broken == {k: False for k in broken}
        # Measured: no noise 4.4, no clipping 2.7-3.0 (the noise, drawn from OS entropy, differs per run).
        assert result.epsilon_lower_bound > (2.0 if "noise" in broken else 1.5) * CLAIM, result.attacks
        assert not result.consistent
    assert result.claimed_epsilon <= CLAIM and 430 < result.included < 570


def test_cli_audit_writes_its_result(repo_root, tmp_path):
    import json
    import subprocess
    import sys

    out = tmp_path / "audit.json"
    done = subprocess.run([sys.executable, "-m", "tabsynth.cli", "audit", str(repo_root / "sample_data" / "online_shoppers.csv.gz"),
                           "--epsilon", "2", "--canaries", "60", "--rows", "200", "--epochs", "3", "--quiet",
                           "-o", str(out)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    result = json.loads(out.read_text())
    assert result["canaries"] == 60 and result["claimed_epsilon"] <= 2 and result["consistent"]
    assert "empirical lower bound" in done.stdout


@pytest.mark.parametrize("model", ["tvae", "ctgan"])
def test_audit_of_tvae_and_ctgan_stays_below_the_claim(table, model):
    # White box: minus the negative ELBO (TVAE) or the critic's score (CTGAN); black box: L1
    # distance to the nearest synthetic row in the continuous view.
    result = run_audit(table, model=model, epsilon=CLAIM, canaries=200, rows=300, epochs=10, random_state=0)
    assert result.model == model and result.claimed_epsilon <= CLAIM
    assert result.epsilon_lower_bound <= CLAIM and result.consistent
    assert {a["attack"] for a in result.attacks} == {"white-box model score", "black-box nearest synthetic row"}
