"""The README and every page of docs/ render under CommonMark (with tables): no fence swallows the text
after it, no `<placeholder>` vanishes as an HTML tag, and every relative link and image exists."""

import re
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

REPOSITORY = Path(__file__).resolve().parents[3]
PAGES = [REPOSITORY / "README.md", *sorted((REPOSITORY / "docs").glob("*.md"))]
PARSER = MarkdownIt("commonmark").enable("table")


def headings_in_source(text):
    """The lines that start a heading, read as a person writing the page means them (outside fences)."""
    headings, fence = [], None
    for line in text.splitlines():
        marker = re.match(r"^(`{3,}|~{3,})", line)
        if marker:
            if fence is None:
                fence = marker.group(1)[0]
            elif line.startswith(fence * 3):
                fence = None
            continue
        if fence is None and re.match(r"^#{1,6} ", line):
            headings.append(line.lstrip("#").strip())
    return headings


def inline_tokens(tokens):
    for token in tokens:
        yield token
        yield from inline_tokens(token.children or [])


@pytest.mark.parametrize("page", PAGES, ids=lambda path: path.name)
def test_page_renders_as_written(page):
    text = page.read_text()
    tokens = PARSER.parse(text)
    rendered = [tokens[i + 1].content for i, token in enumerate(tokens) if token.type == "heading_open"]
    assert rendered == headings_in_source(text), f"{page.name}: a code fence swallows headings"
    html = [t.content for t in inline_tokens(tokens) if t.type in ("html_inline", "html_block")]
    assert all(chunk.lstrip().startswith("<!--") for chunk in html), f"{page.name}: read as HTML: {html}"
    fences = [t for t in tokens if t.type == "fence"]
    assert all(not re.search(r"^#{1,6} \S", t.content, re.M) or t.info in ("bash", "yaml", "") for t in fences)
    for token in inline_tokens(tokens):
        target = token.attrs.get("href") or token.attrs.get("src") if token.type in ("link_open", "image") else None
        if target and not re.match(r"^[a-z]+:", target):
            path = target.split("#")[0]
            assert not path or (page.parent / path).exists(), f"{page.name}: {target} does not exist"


def test_a_fence_left_open_is_caught():
    text = "# Title\n\n```\ncode\n``` and text\n\n## Swallowed\n"
    tokens = PARSER.parse(text)
    rendered = [tokens[i + 1].content for i, token in enumerate(tokens) if token.type == "heading_open"]
    assert rendered != headings_in_source(text)


def test_the_stages_page_lists_every_registered_component():
    import models.losses  # noqa: F401 (registers the losses)
    import models.temporal  # noqa: F401 (registers fusions, encoders, heads, frameworks)
    from models.registry import REGISTRIES

    page = (REPOSITORY / "docs" / "stages.md").read_text()
    missing = [
        f"{kind} {name}"
        for kind in ("fusion", "encoder", "head", "framework", "loss")
        for name in REGISTRIES[kind]
        if f"`{name}`" not in page
    ]
    assert not missing, f"docs/stages.md does not describe {missing}"
