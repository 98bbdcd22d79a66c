"""--pseudonymize: stable keyed tokens instead of customer names and tenant ids, in every output file; the key
and its name lookup stay outside the outputs."""
from __future__ import annotations

import html
import json
import re
import stat
from pathlib import Path

import polars as pl
import pytest
from render_support import HOSTILE_ID, SMITH_ID, stand_in_templates

from adoption_kit import cli, privacy, render
from adoption_kit.config import SAMPLE_DIR
from adoption_kit.errors import ParameterError
from adoption_kit.inputs import load_exports

RUN_DATE = "2026-11-01"
FORMULA_ID = "259535c5-5a5b-4929-808c-c3377092b296"
TOKEN = re.compile(r"^Customer-[0-9a-f]{8}$")


def _sample_identities() -> tuple[set[str], set[str]]:
    """Every customer name any sample feed gives (all spellings) and every tenant id."""
    exports = load_exports(SAMPLE_DIR)
    names, ids = set(), set()
    for frame in (exports.deployment, exports.usage, exports.subscriptions):
        names |= set(frame.get_column("customer_name").drop_nulls().to_list())
        ids |= set(frame.get_column("customer_id").drop_nulls().to_list())
    return names, ids


NAMES, IDS = _sample_identities()


def _forms(name: str) -> set[str]:
    """How a name could be written into an output: as is, HTML-escaped, JSON-escaped (ASCII or not), as a
    formula-safe CSV cell, with CSV quote doubling, or as a file-name slug."""
    forms = {name, html.escape(name), html.escape(name, quote=False), json.dumps(name)[1:-1],
             json.dumps(name, ensure_ascii=False)[1:-1], "'" + name, name.replace('"', '""')}
    slug = render.slugify(name)
    if slug != "customer" and len(slug) >= 6:
        forms.add(slug)
    return {f for f in forms if len(f) >= 4}


def leaks(root: Path) -> list[tuple[str, str]]:
    """(file, what) for every customer name or tenant id found in any file under `root` (Parquet: its text)."""
    found = []
    needles = {form: name for name in NAMES for form in _forms(name)}
    needles.update({i: i for i in IDS} | {i.upper(): i for i in IDS})
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        if path.suffix == ".parquet":
            frame = pl.read_parquet(path)
            text = "\n".join(str(v) for c, d in frame.schema.items() if d == pl.String
                             for v in frame.get_column(c).drop_nulls().to_list())
        elif path.suffix == ".ipynb":   # a template's own `parameters` cell holds its defaults (the sample's ids)
            notebook = json.loads(path.read_text(encoding="utf-8"))
            notebook["cells"] = [c for c in notebook["cells"]
                                 if "parameters" not in c.get("metadata", {}).get("tags", [])]
            text = json.dumps(notebook, ensure_ascii=False) + json.dumps(notebook)
        else:
            text = path.read_bytes().decode("utf-8", errors="replace")
        text += "\n" + path.relative_to(root).as_posix()
        found += [(path.relative_to(root).as_posix(), what) for needle, what in needles.items() if needle in text]
    return found


# ---------------------------------------------------------------------------
# The module
# ---------------------------------------------------------------------------
def test_key_file_is_created_private_and_tokens_are_stable(tmp_path):
    key_path = tmp_path / "config" / "adoption-kit" / "pseudonym.key"
    key = privacy.load_key(key_path)
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(key_path.parent.stat().st_mode) == 0o700
    assert re.fullmatch(r"[0-9a-f]{64}\n", key_path.read_text())
    again = privacy.load_key(key_path)
    assert again.secret == key.secret and again.token(HOSTILE_ID) == key.token(HOSTILE_ID)
    assert TOKEN.match(key.token(HOSTILE_ID))
    assert key.token(HOSTILE_ID.upper()) == key.token("{" + HOSTILE_ID + "}") == key.token(HOSTILE_ID)
    assert key.pseudo_id(HOSTILE_ID).startswith(key.token(HOSTILE_ID)[len("Customer-"):])
    other = privacy.load_key(tmp_path / "other.key")
    assert other.token(HOSTILE_ID) != key.token(HOSTILE_ID)
    assert key.secret.hex() not in repr(key)
    (tmp_path / "bad.key").write_text("not a key\n")
    with pytest.raises(ParameterError, match="not a pseudonym key"):
        privacy.load_key(tmp_path / "bad.key")


def test_the_default_key_lives_in_the_user_configuration(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert privacy.default_key_path() == tmp_path / "xdg" / "adoption-kit" / "pseudonym.key"
    monkeypatch.delenv("XDG_CONFIG_HOME")
    assert privacy.default_key_path() == Path.home() / ".config" / "adoption-kit" / "pseudonym.key"


def test_colliding_tokens_are_lengthened():
    class Fixed(privacy.PseudonymKey):
        def digest(self, customer_id: str) -> str:
            return {"a": "1234abcd" + "0" * 56, "b": "1234abcd" + "f" * 56, "c": "99999999" + "1" * 56}[customer_id]

    key = Fixed(Path("/nonexistent"), b"x")
    tokens = privacy.Pseudonyms.for_ids(key, ["a", "b", "c"]).tokens
    assert tokens == {"a": "Customer-1234abcd0000", "b": "Customer-1234abcdffff", "c": "Customer-99999999"}


def test_pseudonymize_exports_scrubs_frames_files_and_warnings(tmp_path):
    key = privacy.load_key(tmp_path / "k.key")
    exports = load_exports(SAMPLE_DIR)
    exports = type(exports)(**{**exports.__dict__, "warnings": (
        f"2 customer id(s) appear under more than one name (e.g. {HOSTILE_ID}: 'Smith, Jones & Partners' / "
        f"'<img src=x onerror=alert(1)>'); the latest name is used",
        f"/data/activity/{SMITH_ID.upper()}/ActiveUserDetail.csv: an older report")})
    hidden = privacy.pseudonymize(exports, key)
    for frame in (hidden.deployment, hidden.usage, hidden.subscriptions):
        assert frame.get_column("customer_name").str.contains(r"^Customer-[0-9a-f]{8}$").all()
        assert not set(frame.get_column("customer_id").to_list()) & IDS
    assert not set(hidden.activity.get_column("customer_id").to_list()) & IDS
    assert hidden.activity.height == exports.activity.height          # user rows kept (counts only)
    assert [f.path.name for f in hidden.files][:2] == ["input-001.csv", "input-002.csv"]
    joined = "\n".join(hidden.warnings)
    assert "Smith" not in joined and "<img" not in joined
    assert HOSTILE_ID not in joined and SMITH_ID.upper() not in joined
    assert key.token(HOSTILE_ID) in joined and key.pseudo_id(HOSTILE_ID) in joined
    assert "\nActiveUserDetail.csv: an older report" in joined          # absolute paths cut to the file name
    # A DataFrame alone, and the metrics level, too.
    frame = privacy.pseudonymize(exports.deployment.select("customer_id", "customer_name"), key)
    assert frame.get_column("customer_name").to_list() == \
        [key.token(c) for c in exports.deployment.get_column("customer_id")]


# ---------------------------------------------------------------------------
# adoption-kit metrics --pseudonymize
# ---------------------------------------------------------------------------
def test_metrics_pseudonymized_at_every_level_with_the_same_tokens_run_after_run(tmp_path, capsys):
    key_path = tmp_path / "private" / "pseudonym.key"
    out = tmp_path / "shared"
    first = {}
    for level in ("workload", "product", "customer", "portfolio"):
        assert cli.main(["metrics", str(SAMPLE_DIR), "--level", level, "--out", str(out / f"{level}.csv"),
                         "--pseudonym-key", str(key_path)]) == 0
    assert "pseudonymized" in capsys.readouterr().err
    assert leaks(out) == []
    customers = pl.read_csv(out / "customer.csv")
    assert customers.height == 50 and customers.get_column("customer_name").str.contains(TOKEN.pattern).all()
    first = dict(zip(customers.get_column("customer_id"), customers.get_column("customer_name")))
    assert cli.main(["metrics", str(SAMPLE_DIR), "--out", str(out / "again.csv"), "--pseudonymize",
                     "--pseudonym-key", str(key_path)]) == 0
    again = pl.read_csv(out / "again.csv")
    assert dict(zip(again.get_column("customer_id"), again.get_column("customer_name"))) == first
    # The name lookup sits beside the key, private, and is the only place the names are.
    lookup = key_path.with_name("pseudonym-map.csv")
    assert stat.S_IMODE(lookup.stat().st_mode) == 0o600 and sorted(p.name for p in out.iterdir()) == [
        "again.csv", "customer.csv", "portfolio.csv", "product.csv", "workload.csv"]
    mapping = pl.read_csv(lookup)
    assert mapping.columns == ["token", "pseudo_customer_id", "customer_id", "customer_name"]
    assert mapping.height == 50 and set(mapping.get_column("token")) == set(first.values())
    row = mapping.filter(pl.col("customer_id") == FORMULA_ID).row(0, named=True)
    assert row["customer_name"] == "'=HYPERLINK(\"http://example.invalid\",\"x\")"       # formula-safe there too
    # A different key gives different tokens.
    assert cli.main(["metrics", str(SAMPLE_DIR), "--out", str(out / "other.csv"),
                     "--pseudonym-key", str(tmp_path / "other.key")]) == 0
    other = pl.read_csv(out / "other.csv")
    assert not set(other.get_column("customer_name")) & set(first.values())
    capsys.readouterr()


def test_the_key_never_goes_with_the_outputs(tmp_path, capsys):
    out = tmp_path / "shared"
    code = cli.main(["metrics", str(SAMPLE_DIR), "--out", str(out / "c.csv"),
                     "--pseudonym-key", str(out / "pseudonym.key")])
    assert code == 2 and "must stay out of what you share" in capsys.readouterr().err
    assert not (out / "c.csv").exists()
    code = cli.main(["report", str(SAMPLE_DIR), "--out", str(out), "--pseudonym-key",
                     str(out / "keys" / "k.key"), "--dry-run"])
    assert code == 2 and "must stay out of what you share" in capsys.readouterr().err
    assert not (out / RUN_DATE).exists()


# ---------------------------------------------------------------------------
# adoption-kit report --pseudonymize
# ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pseudonymized_run(tmp_path_factory):
    """The real templates on the hostile customers and Smith (activity), pseudonymized."""
    root = tmp_path_factory.mktemp("pseudonymized")
    key_path = root / "private" / "pseudonym.key"
    out = root / "shared"
    code = cli.main(["report", str(SAMPLE_DIR), "--out", str(out), "--pseudonymize", "--pseudonym-key",
                     str(key_path), "--workers", "2", "--today", "2026-11-20",
                     "--customer", HOSTILE_ID, "--customer", FORMULA_ID.upper(), "--customer", SMITH_ID])
    assert code == 0
    return out, privacy.load_key(key_path, create=False)


def test_pseudonymized_report_names_no_customer_anywhere(pseudonymized_run):
    out, key = pseudonymized_run
    run_dir = out / RUN_DATE
    files = {p.relative_to(run_dir).as_posix() for p in run_dir.rglob("*") if p.is_file()}
    assert f"customers/customer-{key.token(HOSTILE_ID)[9:]}-{key.pseudo_id(HOSTILE_ID)[:8]}.html" in files
    assert leaks(out) == []
    assert not [p for p in out.rglob("*") if p.name.endswith((".key", "-map.csv"))]


def test_pseudonymized_report_shows_tokens_and_records_the_key_id_only(pseudonymized_run):
    out, key = pseudonymized_run
    run_dir = out / RUN_DATE
    manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["pseudonymized"]["key_id"] == key.key_id
    assert key.secret.hex() not in json.dumps(manifest) and str(key.path) not in json.dumps(manifest)
    reports = {r["customer_id"]: r for r in manifest["reports"] if r["customer_id"]}
    assert set(reports) == {key.pseudo_id(c) for c in (HOSTILE_ID, FORMULA_ID, SMITH_ID)}
    assert reports[key.pseudo_id(SMITH_ID)]["customer_name"] == key.token(SMITH_ID)
    assert manifest["command"]["customers"] == [key.pseudo_id(c) for c in (HOSTILE_ID, FORMULA_ID, SMITH_ID)]
    assert all(source["path"].startswith("input-") for source in manifest["inputs"])
    index = (run_dir / "index.html").read_text(encoding="utf-8")
    assert key.token(HOSTILE_ID) in index
    # Smith's exact usage from user activity is still there: counts survive pseudonymization.
    assert reports[key.pseudo_id(SMITH_ID)]["headline"].get("usage_rate_exact") is not None


@pytest.mark.kernel
def test_a_run_folder_never_mixes_named_and_pseudonymized_reports(tmp_path, capsys):
    templates = stand_in_templates(tmp_path / "templates")
    out = tmp_path / "reports"
    common = ["report", str(SAMPLE_DIR), "--out", str(out), "--templates", str(templates), "--workers", "1",
              "--customer", SMITH_ID]
    assert cli.main(common) == 0
    capsys.readouterr()
    assert cli.main(common + ["--pseudonym-key", str(tmp_path / "k.key")]) == 2
    assert "holds reports not pseudonymized" in capsys.readouterr().err
    shared = tmp_path / "shared"
    assert cli.main(common[:3] + [str(shared)] + common[4:] + ["--pseudonym-key", str(tmp_path / "k.key")]) == 0
    assert cli.main(common[:3] + [str(shared)] + common[4:] + ["--pseudonym-key", str(tmp_path / "k2.key")]) == 2
    assert "pseudonymized with key" in capsys.readouterr().err
    # The stand-in portfolio lists every customer name of the bundle, unescaped: all tokens here.
    assert leaks(shared) == []
