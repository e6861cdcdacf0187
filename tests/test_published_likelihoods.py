"""Real published likelihoods (tests/data/published, HEPData records, CC0; SOURCE.md in each
folder): snakehep's CLs at mu = 1, observed and expected band, against pyhf's hypotest computed
here on the same patched workspace (pyhf's default code4/code4p interpolations)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyhf
import pytest
from snakehep import cli
from snakehep.statistics.limits import hypotest_workspace
from snakehep.statistics.patches import patched_workspace

PUBLISHED = Path(__file__).parent / "data" / "published"
ONE_LBB = PUBLISHED / "atlas_susy_2019_08_1lbb"
ERJR = PUBLISHED / "atlas_susy_2018_06_erjr"


@pytest.fixture(scope="module")
def one_lbb(tmp_path_factory) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("1lbb")
    (directory / "BkgOnly.json").write_bytes(gzip.decompress((ONE_LBB / "BkgOnly.json.gz").read_bytes()))
    return {"bkg": directory / "BkgOnly.json", "patchset": ONE_LBB / "patchset.json"}


@pytest.mark.parametrize("patch", ["C1N2_Wh_hbb_700_400", "C1N2_Wh_hbb_550_200"])
def test_1lbb_cls_equal_pyhf(one_lbb, patch):
    """ATLAS-SUSY-2019-08 (1Lbb): 8 channels, 126 parameters with a signal patch."""
    spec, source = patched_workspace(one_lbb["bkg"], patchset=one_lbb["patchset"], patch=patch)
    ours = hypotest_workspace(spec, mu=1.0, source=source)
    # pyhf's default SLSQP tolerance stops its mu = 0 fit early (twice the NLL 4.5e-7 above
    # snakehep's), which moves its Asimov data and its expected CLs of 1e-6 by 4e-4 relative; at
    # tolerance 1e-10 its fits reach the minimum
    pyhf.set_backend("numpy", pyhf.optimize.scipy_optimizer(tolerance=1e-10))
    bkg = pyhf.Workspace(json.loads(one_lbb["bkg"].read_text()))
    workspace = pyhf.PatchSet(json.loads(one_lbb["patchset"].read_text())).apply(bkg, patch)
    model = workspace.model()
    assert len(model.config.suggested_init()) == 126
    observed, expected = pyhf.infer.hypotest(1.0, workspace.data(model), model, test_stat="qtilde",
                                             return_expected_set=True)
    pyhf.set_backend("numpy", "scipy")
    assert ours.cls_obs == pytest.approx(float(observed), rel=1e-4)
    assert list(ours.cls_exp) == pytest.approx([float(e) for e in expected], rel=1e-4)


def test_1lbb_patches_are_listed_with_their_masses(one_lbb, capsys):
    assert cli.main(["patches", str(one_lbb["patchset"])]) == 0
    listing = json.loads(capsys.readouterr().out)
    assert listing["labels"] == ["m1", "m2"]
    assert {p["name"]: p["values"] for p in listing["patches"]}["C1N2_Wh_hbb_700_400"] == [700.0, 400.0]


def test_erjr_stiff_constraint_keeps_the_nll_precise():
    """ATLAS-SUSY-2018-06 (3L eRJR, older patch files): a shapesys of 0.001 on 435 events is a
    Poisson constraint with tau ~ 2e11, where rate - aux log(rate) cancels to 1e-3 in double
    precision (pyhf's scipy and minuit fits fail on this model). Steps of the stiff gamma by
    0.5, 1 and 2 of its sigma change snakehep's NLL by what an independent computation gives:
    pyhf's main-model logpdf plus that constraint in 40-digit decimal arithmetic."""
    import decimal

    import numpy as np
    from snakehep.statistics.loading import load_workspace

    spec, source = patched_workspace(ERJR / "BkgOnly.json", patch=ERJR / "patch.ERJR_500p0_0p0.json")
    loaded = load_workspace(spec, source)
    model, lk, data = loaded.model, loaded.likelihood, loaded.data
    name = "shape_mcstat_diboson3LISR_CRISR_obs_cuts"
    index = model.config.par_slice(name).start
    (position,) = [k for k, i in enumerate(lk._pois_idx) if i == index]
    tau, aux = float(lk._pois_factor[position]), float(data[lk._aux_pois[position]])
    assert tau > 1e11  # the stiff one
    sigma = 1.0 / np.sqrt(tau)
    base = np.asarray(model.config.suggested_init(), dtype=float)
    main = np.asarray(data[: model.config.nmaindata])
    decimal.getcontext().prec = 40

    def independent(gamma: float) -> tuple[float, decimal.Decimal]:
        """The main model's NLL (double precision is enough there) and the constraint's (exact
        to 40 digits: only their differences are rounded to double)."""
        pars = base.copy()
        pars[index] = gamma
        rate = decimal.Decimal(gamma) * decimal.Decimal(tau)
        return -float(np.sum(model.main_model.logpdf(main, pars))), rate - decimal.Decimal(aux) * rate.ln()

    def ours(gamma: float) -> float:
        pars = base.copy()
        pars[index] = gamma
        return lk.nll(pars, data)

    for k in (0.5, 1.0, 2.0, -1.0):
        gamma = 1.0 + k * sigma
        (main_step, constraint_step), (main_start, constraint_start) = independent(gamma), independent(1.0)
        expected = (main_step - main_start) + float(constraint_step - constraint_start)
        assert ours(gamma) - ours(1.0) == pytest.approx(expected, abs=1e-6)


STIFF_GAMMA = "shape_mcstat_diboson3LISR_CRISR_obs_cuts"


@pytest.mark.parametrize("patch", ["ERJR_200p0_100p0", "ERJR_500p0_0p0"])
def test_erjr_cls_equal_pyhf(patch):
    """ATLAS-SUSY-2018-06 (3L eRJR): snakehep fits the whole model. pyhf's fits fail on the
    stiff gamma (tau ~ 2e11), so pyhf is run with that one parameter fixed at its constraint's
    centre: its sigma is 2.2e-6, 1e-3 of an event on 435, far below the 1e-4 compared here.
    Fixing it in snakehep too shows it moves nothing."""
    import copy

    import jsonpatch

    bkg, patch_file = ERJR / "BkgOnly.json", ERJR / f"patch.{patch}.json"
    spec, source = patched_workspace(bkg, patch=patch_file)
    ours = hypotest_workspace(spec, mu=1.0, source=source)

    pinned = copy.deepcopy(spec)
    pinned["measurements"][0]["config"]["parameters"].append({"name": STIFF_GAMMA, "fixed": True, "inits": [1.0]})
    ours_pinned = hypotest_workspace(pinned, mu=1.0, source=source)
    assert ours_pinned.cls_obs == pytest.approx(ours.cls_obs, rel=1e-5)
    assert list(ours_pinned.cls_exp) == pytest.approx(list(ours.cls_exp), rel=1e-5)

    pyhf.set_backend("numpy", pyhf.optimize.scipy_optimizer(tolerance=1e-10))
    workspace = pyhf.Workspace(jsonpatch.apply_patch(json.loads(bkg.read_text()), json.loads(patch_file.read_text())))
    model = workspace.model()
    fixed = model.config.suggested_fixed()
    fixed[model.config.par_slice(STIFF_GAMMA).start] = True
    observed, expected = pyhf.infer.hypotest(1.0, workspace.data(model), model, test_stat="qtilde",
                                             return_expected_set=True, fixed_params=fixed)
    pyhf.set_backend("numpy", "scipy")
    assert 0.0 < float(observed) < 1.0
    assert ours.cls_obs == pytest.approx(float(observed), rel=1e-4)
    assert list(ours.cls_exp) == pytest.approx([float(e) for e in expected], rel=1e-4)


def test_erjr_fits_converge_through_both_paths(tmp_path):
    """With the precise NLL the fits converge; the command line and a reinterpret job (the older
    patch files) give the same CLs."""
    from snakehep.statistics.scan import scan_patches

    spec, source = patched_workspace(ERJR / "BkgOnly.json", patch=ERJR / "patch.ERJR_200p0_100p0.json")
    result = hypotest_workspace(spec, mu=1.0, source=source)
    assert 0.0 < result.cls_obs < 1.0 and all(0.0 < v < 1.0 for v in result.cls_exp)
    (point,) = scan_patches({}, workspace=ERJR / "BkgOnly.json", names=["ERJR_200p0_100p0"],
                            patch_files={"ERJR_200p0_100p0": ERJR / "patch.ERJR_200p0_100p0.json"})
    assert point.values == (200.0, 100.0)
    assert point.cls_obs == pytest.approx(result.cls_obs, rel=1e-12)
