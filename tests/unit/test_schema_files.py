"""The committed JSON Schemas and AsyncAPI document match what the code generates."""

from services.worker.specification import SCHEMA_DIR, rendered


def test_committed_schema_files_are_current():
    expected = rendered()
    stale = [
        path
        for path, text in expected.items()
        if not (SCHEMA_DIR / path).exists() or (SCHEMA_DIR / path).read_text() != text
    ]
    assert not stale, f"run `make schema` and commit: stale {stale}"
    committed = {str(p.relative_to(SCHEMA_DIR)) for p in SCHEMA_DIR.rglob("*.json")}
    assert committed == set(expected), f"unexpected files in contracts/schema: {committed - set(expected)}"
