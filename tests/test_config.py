"""Typed configuration: loading, overrides, and the messages users see when input is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from clusterhpc.config import Config, ConfigError, load_config, parse_overrides, write_resolved

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def write(tmp_path: Path, text: str, name: str = "c.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_pinned_configs_load():
    for path in CONFIGS.glob("*.yaml"):
        if path.name != "sweep_example.yaml":  # a sweep file, read by `clusterhpc.submit`
            assert isinstance(load_config(path), Config), path.name
    assert load_config(CONFIGS / "tiny.yaml").data.root == "data/tiny"


def test_random_sky_negatives_may_lie_next_to_clusters_but_hold_none():
    """The random-sky negatives' nearest cluster is just beyond the cutout's half-diagonal,
    by the simulator's rule and by the prep rule that lists them for packing."""
    cfg = load_config(CONFIGS / "cnn_random_sky.yaml")
    half_diagonal = cfg.prep.size * cfg.prep.scale / 60 / 2**0.5
    assert cfg.simulate.cutouts.empty_min_arcmin == cfg.prep.empty.min_sep_arcmin
    assert half_diagonal < cfg.prep.empty.min_sep_arcmin < 1.05 * half_diagonal
    default = load_config(CONFIGS / "cnn_classifier.yaml")
    assert default.prep.empty.min_sep_arcmin > 2 * half_diagonal


def test_unknown_key_names_file_key_and_closest_valid_key(tmp_path):
    path = write(tmp_path, "resources:\n  node: 2\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    message = str(err.value)
    assert str(path) in message
    assert "unknown key 'resources.node'" in message
    assert "did you mean 'resources.nodes'?" in message


def test_unknown_top_level_section(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown key 'ressources'; did you mean 'resources'"):
        load_config(write(tmp_path, "ressources: {}\n"))


def test_wrong_type_names_key_value_and_what_is_allowed(tmp_path):
    path = write(tmp_path, "resources:\n  nodes: two\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(err.value) == f"{path}: resources.nodes = 'two': expected an integer >= 1"


def test_out_of_range_value(tmp_path):
    with pytest.raises(ConfigError, match=r"gpus_per_task = -1: expected an integer >= 0"):
        load_config(write(tmp_path, "resources: {gpus_per_task: -1}\n"))


def test_bool_is_not_an_int_and_section_must_be_mapping(tmp_path):
    with pytest.raises(ConfigError, match="seed = True: expected an integer"):
        load_config(write(tmp_path, "seed: true\n"))
    with pytest.raises(ConfigError, match="data = 3: expected a mapping"):
        load_config(write(tmp_path, "data: 3\n"))


def test_overrides_parse_as_yaml_and_win_over_file(tmp_path):
    path = write(tmp_path, "seed: 1\nresources: {nodes: 2, time: '01:00:00'}\n")
    cfg = load_config(path, ["seed=7", "resources.time=00:10:00", "data.root=/scratch/survey"])
    assert cfg.seed == 7
    assert cfg.resources.nodes == 2
    assert cfg.resources.time == "00:10:00"
    assert cfg.data.root == "/scratch/survey"


def test_override_errors_blame_the_command_line(tmp_path):
    path = write(tmp_path, "seed: 1\n")
    with pytest.raises(ConfigError, match=r"^command line: unknown key 'resources.gpu'"):
        load_config(path, ["resources.gpu=4"])
    with pytest.raises(ConfigError, match=r"^command line: seed = 'x'"):
        load_config(path, ["seed=x"])
    with pytest.raises(ConfigError, match=r"expected key\.sub=value"):
        parse_overrides(["seed"])


def test_base_chain_and_sources(tmp_path):
    write(tmp_path, "seed: 3\nresources: {nodes: 4, mem_gb: 16}\n", "base.yaml")
    child = write(tmp_path, "base: base.yaml\nresources: {nodes: 2}\n", "child.yaml")
    cfg = load_config(child)
    assert (cfg.seed, cfg.resources.nodes, cfg.resources.mem_gb) == (3, 2, 16)
    bad = write(tmp_path, "base: base.yaml\nresources: {mem_gb: 0}\n", "bad.yaml")
    with pytest.raises(ConfigError, match=f"^{bad}: resources.mem_gb = 0"):
        load_config(bad)
    bad_base = write(tmp_path, "resources: {mem_gb: lots}\n", "bad_base.yaml")
    child2 = write(tmp_path, "base: bad_base.yaml\n", "child2.yaml")
    with pytest.raises(ConfigError, match=f"^{bad_base}: resources.mem_gb = 'lots'"):
        load_config(child2)


def test_base_loop_and_missing_file(tmp_path):
    write(tmp_path, "base: b.yaml\n", "a.yaml")
    write(tmp_path, "base: a.yaml\n", "b.yaml")
    with pytest.raises(ConfigError, match="loops back"):
        load_config(tmp_path / "a.yaml")
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "missing.yaml")


def test_only_safe_yaml(tmp_path):
    path = write(tmp_path, "seed: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(path)


def test_resolved_config_round_trips(tmp_path):
    cfg = load_config(CONFIGS / "tiny.yaml", ["seed=11"])
    written = write_resolved(cfg, tmp_path / "out")
    again = load_config(written)
    assert again == cfg
    assert yaml.safe_load(written.read_text())["seed"] == 11


def test_printed_config_documents_every_key_and_loads_back(tmp_path, capsys):
    from clusterhpc.cli import main

    assert main(["config", str(CONFIGS / "quickstart.yaml"), "seed=5"]) == 0
    printed = capsys.readouterr().out
    assert "seed: 5" in printed and "# random seed of every stage" in printed
    assert "  epochs: 12" in printed
    again = load_config(write(tmp_path, printed, "printed.yaml"))
    assert again == load_config(CONFIGS / "quickstart.yaml", ["seed=5"])
