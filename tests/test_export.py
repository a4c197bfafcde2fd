"""qa export: CSV / XLSX tables, and formula-injection neutralisation."""

from __future__ import annotations

import csv

import pytest
from click.testing import CliRunner
from openpyxl import load_workbook

from qa.cli import main
from qa.errors import ReportError
from qa.export import export_tables, neutralise
from report_helpers import conv_row, crit_row, dt, ev, write_results


@pytest.fixture
def results(tmp_path):
    c1 = conv_row("c1", "=HYPERLINK(\"http://x\")", "north", dt("2026-01-05"), 80.0,
                  agent_name="@SUM(1+1)")
    c2 = conv_row("c2", "bob", None, dt("2026-01-06"), 60.0, agent_name="-Bob")
    crits = [crit_row(c1, "greeting", "pass", evidence=[ev(0, "+1 555 call me", None,
                                                           polarity="positive")]),
             crit_row(c2, "greeting", "fail", reason="-no greeting")]
    return write_results(tmp_path / "out", [c1, c2], crits)


def test_neutralise():
    assert [neutralise(v) for v in ("=1+1", "+1", "-2", "@x", "\tx", "\rx", "ok", "a=b", "")] == \
        ["'=1+1", "'+1", "'-2", "'@x", "'\tx", "'\rx", "ok", "a=b", ""]


def test_csv_tables_are_neutralised(results, tmp_path):
    s = export_tables(results, tmp_path / "x", "csv")
    assert [p.name for p in s.files] == ["agent_summary.csv", "agent_criteria.csv", "criteria.csv"]
    assert all(p.stat().st_mode & 0o044 for p in s.files)  # readable by others (umask 022)
    assert s.rows == {"agent_summary": 2, "agent_criteria": 2, "criteria": 2}
    with open(tmp_path / "x" / "exports" / "agent_summary.csv", newline="") as fh:
        rows = {r["agent_name"]: r for r in csv.DictReader(fh)}
    assert set(rows) == {"'@SUM(1+1)", "'-Bob"}
    evil = rows["'@SUM(1+1)"]
    assert evil["agent_id"] == "'=HYPERLINK(\"http://x\")"
    assert (evil["overall"], evil["team"], evil["first_at"]) == ("80.0", "north", "2026-01-05T09:00:00Z")
    assert rows["'-Bob"]["team"] == ""  # no team: empty, not a made-up name
    assert rows["'-Bob"]["delta_overall"] == "0.0"
    with open(tmp_path / "x" / "exports" / "criteria.csv", newline="") as fh:
        crit = list(csv.DictReader(fh))
    assert [(r["conversation_id"], r["outcome"], r["evidence_count"], r["first_quote"], r["reason"])
            for r in crit] == [("c1", "pass", "1", "'+1 555 call me", "because"),
                               ("c2", "fail", "0", "", "'-no greeting")]


def test_xlsx_keeps_text_as_text(results, tmp_path):
    s = export_tables(results, tmp_path, "xlsx")
    assert s.files == [tmp_path / "exports" / "qa-export.xlsx"]
    wb = load_workbook(s.files[0])
    assert wb.sheetnames == ["agent_summary", "agent_criteria", "criteria"]
    ws = wb["agent_summary"]
    header = [c.value for c in ws[1]]
    rows = [{h: c for h, c in zip(header, r)} for r in ws.iter_rows(min_row=2)]
    assert [r["agent_name"].value for r in rows] == ["-Bob", "@SUM(1+1)"]  # no team sorts first
    first = rows[1]
    assert first["agent_id"].value == "=HYPERLINK(\"http://x\")"
    assert first["agent_id"].data_type == "s"  # a string, never a formula
    assert first["overall"].value == 80.0 and first["n_conversations"].value == 1
    assert first["first_at"].value.isoformat() == "2026-01-05T09:00:00"


def test_cli_export(results, tmp_path):
    r = CliRunner().invoke(main, ["export", str(results), "--format", "xlsx", "--team", "north"])
    assert r.exit_code == 0, r.output
    assert f"wrote {results / 'exports' / 'qa-export.xlsx'} (rows: agent_summary 1, " \
           "agent_criteria 1, criteria 1)" in r.output
    r = CliRunner().invoke(main, ["export", str(results), "--format", "ods"])
    assert r.exit_code == 2 and "'ods' is not one of 'csv', 'xlsx'" in r.output
    r = CliRunner().invoke(main, ["export", str(results), "--team", "nobody"])
    assert r.exit_code == 1 and "no conversations match (team nobody)" in r.output
    with pytest.raises(ReportError, match="unknown export format 'pdf'"):
        export_tables(results, tmp_path, "pdf")


def test_redacted_export_masks_pii_in_quotes_and_reasons(tmp_path):
    c1 = conv_row("c1", "ann", "north", dt("2026-01-05"), 80.0)
    crits = [crit_row(c1, "greeting", "pass", reason="greeting found",
                      evidence=[ev(0, "Write to me at dana.lee@example.com or call (415) 555-0132", None,
                                   polarity="positive")]),
             crit_row(c1, "closing", "fail", reason="customer said 'my card is 4111 1111 1111 1111'")]
    results = write_results(tmp_path / "out", [c1], crits)
    plain = export_tables(results, tmp_path / "plain", "csv")
    shared = export_tables(results, tmp_path / "shared", "csv", redact=True)
    assert plain.rows == shared.rows

    def rows(root):
        with open(root / "exports" / "criteria.csv", newline="") as fh:
            return {r["criterion_id"]: r for r in csv.DictReader(fh)}

    assert "dana.lee@example.com" in rows(tmp_path / "plain")["greeting"]["first_quote"]
    red = rows(tmp_path / "shared")
    assert red["greeting"]["first_quote"] == "Write to me at [EMAIL] or call [PHONE]"
    assert red["closing"]["reason"] == "customer said 'my card is [CARD]'"
    r = CliRunner().invoke(main, ["export", str(results), "--redact", "--out", str(tmp_path / "cli"), "-q"])
    assert r.exit_code == 0, r.output
    assert rows(tmp_path / "cli")["greeting"]["first_quote"] == "Write to me at [EMAIL] or call [PHONE]"


def test_control_characters_never_crash_an_xlsx_export(tmp_path):
    """Real chat exports carry NUL, ESC colour codes and BEL; openpyxl refuses them
    (IllegalCharacterError) and XML forbids them: they become visible control pictures in
    XLSX and in CSV."""
    from qa.export import xlsx_text

    assert xlsx_text("a\x00b\x1b[31mred\x1b[0m\x07\ttab\nnl") == "a␀b␛[31mred␛[0m␇\ttab\nnl"
    assert xlsx_text("plain") == "plain"
    quote = "Hello \x00 \x1b[31mred\x1b[0m \x07 thanks \ufffe"
    c1 = conv_row("c\x1b1", "agent\x00x", "north", dt("2026-01-05"), 80.0, agent_name="Sam\x08")
    crits = [crit_row(c1, "greeting", "pass", reason="said \x1b[1mhi\x1b[0m",
                      evidence=[ev(0, quote, None, polarity="positive")])]
    results = write_results(tmp_path / "out", [c1], crits)
    s = export_tables(results, tmp_path / "x", "xlsx")
    ws = load_workbook(s.files[0])["criteria"]
    header = [c.value for c in ws[1]]
    row = {h: c.value for h, c in zip(header, next(ws.iter_rows(min_row=2)))}
    assert row["first_quote"] == "Hello ␀ ␛[31mred␛[0m ␇ thanks \ufffd"
    assert row["reason"] == "said ␛[1mhi␛[0m"
    assert row["conversation_id"] == "c␛1"
    agents = load_workbook(s.files[0])["agent_summary"]
    assert [c.value for c in agents[2]][:2] == ["agent␀x", "Sam␈"]
    csv_out = export_tables(results, tmp_path / "c", "csv")
    with open(csv_out.files[2], newline="", encoding="utf-8") as fh:
        crit = list(csv.DictReader(fh))
    # CSV: visible and inert too (`cat criteria.csv` used to turn the terminal red, and NUL
    # ends the text in many CSV tools); U+FFFE is legal in CSV and kept
    assert crit[0]["first_quote"] == "Hello ␀ ␛[31mred␛[0m ␇ thanks \ufffe"
    assert crit[0]["reason"] == "said ␛[1mhi␛[0m"
    for f in csv_out.files:
        text = f.read_text(encoding="utf-8")
        assert not any(ch in text for ch in "\x00\x07\x08\x1b"), f.name
