"""Pre-filter helpers: forum markup to LaTeX-preserving text, the language heuristic, licences."""

from __future__ import annotations

from nemo_math.extract.config import PrefilterConfig
from nemo_math.extract.readers import Prefilter, se_license
from nemo_math.extract.text import bbcode_to_text, dedup_key, has_image, html_to_text, is_english


def test_html_keeps_math_and_mathjax_scripts():
    html = ('<p>Let $a &lt; b$ and</p><script type="math/tex; mode=display">\\sum_{i=1}^n i</script>'
            '<p>inline <script type="math/tex">x^2</script> and \\(y\\), \\[z\\].</p><ul><li>one</li></ul>')
    text = html_to_text(html)
    assert "$a < b$" in text and "$$\\sum_{i=1}^n i$$" in text
    assert "inline $x^2$ and $y$, $$z$$." in text and "- one" in text and not has_image(html)


def test_html_comments_entities_links_and_code():
    html = ('<!-- a > b --><p>x &amp; y &lt; z</p>\n\n<pre><code>if a &gt; b:\n    c\n</code></pre>'
            '<p>See <a href="u">this</a>, <em>really</em>.</p>')
    assert html_to_text(html) == "x & y < z\n\nif a > b:\nc\n\nSee this, really."


def test_cheap_checks_before_the_conversion_decide_as_the_full_filter():
    bodies = ['<p><img src="x.png"> Find $x$ such that the sum of all the terms is ten.</p>', "<p>Why?</p>",
              "<p>" + "find the value " * 400 + "</p>", "<p>Find the value of $x$ if the sum of it is two.</p>",
              "<p>Find the value of $x$ if the sum of it is two!</p>", "<p>Trouver la valeur de la somme avec une</p>"]
    cheap, full = Prefilter(PrefilterConfig()), Prefilter(PrefilterConfig())
    for body in bodies:
        text = html_to_text(body)
        assert cheap.html_question(body) == (None if full.question(text, has_image(body)) else text)
    assert cheap.counts == full.counts == {"read": 6, "image": 1, "too_short": 1, "too_long": 1, "kept": 1,
                                           "duplicate": 1, "not_english": 1}


def test_html_flags_images():
    assert has_image('<p>See</p><img src="x.png">') and not has_image("<p>See <em>it</em></p>")


def test_bbcode_drops_quotes_and_markup_keeps_hidden_solutions():
    text, image = bbcode_to_text("[quote=a]old[/quote][b]So[/b] [hide=Sol]$x=\\boxed{2}$[/hide]")
    assert text == "So $x=\\boxed{2}$" and not image
    assert bbcode_to_text("Area?\n[asy]draw((0,0)--(1,1));[/asy]")[1]


def test_language_heuristic():
    assert is_english("Find the sum of all positive integers $n$ such that $n^2<50$.")
    assert not is_english("Calcule la somme des entiers de un jusqu'à dix, s'il vous plaît, avec une démonstration.")
    assert not is_english("Найдите сумму всех целых чисел $n$ таких что $n^2<50$.")
    assert is_english("$\\int_0^1 x^2 dx$")


def test_dedup_key_ignores_case_space_punctuation():
    assert dedup_key("How many divisors does $360$ have?") == dedup_key("how many  divisors does 360 have")


def test_stackexchange_licence_by_date():
    assert [se_license(d) for d in ("2010-07-20T19:09", "2012-01-02T10:00", "2019-03-04T08:00")] == [
        "CC BY-SA 2.5", "CC BY-SA 3.0", "CC BY-SA 4.0"]
