from abawflow.plan.schema import load_schema
from abawflow.plan.schema_docs import configuration_markdown


def test_the_configuration_page_is_the_one_the_schema_writes(repository):
    written = (repository / "docs" / "configuration.md").read_text()
    assert written == configuration_markdown(), (
        "docs/configuration.md is out of date: run python -m abawflow.plan.schema_docs docs/configuration.md"
    )


def test_every_key_of_the_schema_has_a_row_with_its_default():
    page = configuration_markdown()
    assert "| `faces.batch_size` | integer ≥ 1 | `64` |" in page
    assert "| `backbones.<name>.format` | `timm` \\| `onnx`" in page
    assert "| `experiments.<name>.backbones` |" in page
    for section in load_schema()["properties"]:
        assert f"## `{section}`" in page


def test_a_description_with_a_placeholder_stays_text():
    schema = {
        "properties": {
            "section": {
                "type": "object",
                "description": "Crops in <root>/<name>/, or `<name>` in code.",
                "properties": {"key": {"type": "string", "default": "a|b", "description": "one | two"}},
            }
        }
    }
    page = configuration_markdown(schema)
    assert "Crops in \\<root>/\\<name>/, or `<name>` in code." in page
    assert '| `section.key` | string | `"a\\|b"` | one \\| two |' in page
