"""The `shapes` dataset source: deterministic rendering, the grid and its subgrids, the cache, factor columns (also
on any dataset through `factor_columns`), and bad input."""

import numpy as np
import pandas as pd
import pytest

from genzoo.data import load_dataset
from genzoo.data_shapes import FACTOR_NAMES, _generate, render_shape, shapes_grid
from genzoo.errors import GenzooError


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GENZOO_CACHE", str(tmp_path / "cache"))


def test_grids():
    assert shapes_grid(None) == (3, 6, 40, 32, 32)
    assert np.prod(shapes_grid("full")) == 737_280
    assert shapes_grid("tiny") == (3, 2, 4, 4, 4)
    assert shapes_grid("3,6,8,16,16") == (3, 6, 8, 16, 16)
    for bad in ("huge", "3,6,41,32,32", "1,2,3", "0,1,1,1,1"):
        with pytest.raises(GenzooError, match="is not a grid") as info:
            shapes_grid(bad)
        assert "\n" not in str(info.value)


def test_rendering_is_deterministic_binary_and_follows_the_factors():
    square = render_shape(0, 1.0, 0.0)
    assert square.dtype == np.uint8 and set(np.unique(square)) == {0, 255}
    np.testing.assert_array_equal(square, render_shape(0, 1.0, 0.0))
    side = 15 * np.sqrt(2)  # circumradius 15 pixels
    assert abs((square > 0).sum() - side**2) < 4 * side
    assert (render_shape(0, 0.5, 0.0) > 0).sum() < (square > 0).sum() / 3  # scale is the radius
    ellipse = render_shape(1, 1.0, 0.0)
    rows, cols = np.nonzero(ellipse)
    assert np.ptp(cols) > 1.8 * np.ptp(rows)  # wide at angle 0 ...
    rows, cols = np.nonzero(render_shape(1, 1.0, np.pi / 2))
    assert np.ptp(rows) > 1.8 * np.ptp(cols)  # ... tall at a quarter turn
    shifted = render_shape(2, 0.8, 0.3, centre=(40.0, 20.0))
    rows, cols = np.nonzero(shifted)
    assert abs(cols.mean() - 40) < 3 and abs(rows.mean() - 20) < 4
    assert len({render_shape(s, 1.0, 0.0).tobytes() for s in range(3)}) == 3


def test_tiny_grid_is_cached_with_factor_columns(tmp_path):
    data = load_dataset("shapes:tiny")
    assert len(data) == 384 and data.factor_columns == list(FACTOR_NAMES) and not data.has_labels
    rows = data.data.with_format("numpy")[:]
    assert rows["x"].tolist()[:4] == [0, 0, 0, 0] and sorted(set(rows["x"].tolist())) == [0, 10, 21, 31]
    assert sorted(set(rows["orientation"].tolist())) == [0, 10, 20, 30]
    combos = {tuple(int(rows[name][i]) for name in FACTOR_NAMES) for i in range(len(data))}
    assert len(combos) == 384
    assert list((tmp_path / "cache" / "shapes").iterdir())
    again = load_dataset("shapes:tiny")  # from the cache: the same images
    first = np.asarray(data.data[17]["image"].convert("L"))
    np.testing.assert_array_equal(first, np.asarray(again.data[17]["image"].convert("L")))
    # The image of a row is the rendering of its factors (x and y index the pixel centres 16..47).
    row = data.data[17]
    expected = render_shape(row["shape"], np.linspace(0.5, 1, 6)[row["scale"]],
                            2 * np.pi * row["orientation"] / 40, (16 + row["x"], 16 + row["y"]))  # fmt: skip
    np.testing.assert_array_equal(first, expected)
    rendered_twice = _generate((1, 1, 2, 2, 1))
    assert rendered_twice["image"][0].tobytes() == _generate((1, 1, 2, 2, 1))["image"][0].tobytes()


def test_other_splits_and_missing_factor_columns_are_refused(tmp_path):
    with pytest.raises(GenzooError, match="shapes has one split, 'train'"):
        load_dataset("shapes:tiny", split="test")
    with pytest.raises(GenzooError, match=r"has no column 'colour' for dataset_args\.factor_columns"):
        load_dataset("shapes:tiny", factor_columns="shape,colour")


def test_any_dataset_with_factor_columns(tmp_path):
    """A parquet (or Hub) dataset names its factor columns through `factor_columns` (`dataset_args`)."""
    data = load_dataset("shapes:1,1,2,2,2")
    frame = pd.DataFrame({"img": [{"bytes": row["image"]["bytes"], "path": None}
                                  for row in data.data.cast_column("image", _raw())],
                          "posx": data.data["x"], "posy": data.data["y"]})  # fmt: skip
    frame.to_parquet(tmp_path / "factors.parquet")
    loaded = load_dataset(f"parquet:{tmp_path / 'factors.parquet'}", factor_columns="posx,posy", label_column="")
    assert loaded.factor_columns == ["posx", "posy"]
    assert load_dataset(f"parquet:{tmp_path / 'factors.parquet'}", label_column="").factor_columns == []


def _raw():
    import datasets

    return datasets.Image(decode=False)
