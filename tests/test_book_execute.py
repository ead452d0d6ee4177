"""book/execute.py, which runs the chapters in parallel into Jupyter Book's cache before `make book` renders."""
import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("book_execute", ROOT / "book" / "execute.py")
execute = importlib.util.module_from_spec(spec)
spec.loader.exec_module(execute)


def test_every_chapter_is_run_and_the_second_wave_exists():
    """The toc's chapters are all notebooks, in book order; the chapters that read others' records are among them."""
    paths = execute.chapters()
    names = [p.stem for p in paths]
    assert names[0] == "intro" and names[1:] == sorted(names[1:]) and "09_experiments" in names
    assert all(ROOT / f"{page}.md" in paths for page in execute.LATER), "a second-wave chapter left the toc"


def test_cache_is_where_jupyter_book_looks_for_it():
    """myst-nb's default: .jupyter_cache beside the html folder of the build's output path."""
    assert execute.cache_path(ROOT) == ROOT / "_build" / ".jupyter_cache"
    assert execute.cache_path(ROOT / "_build" / "fast") == ROOT / "_build" / "fast" / "_build" / ".jupyter_cache"
