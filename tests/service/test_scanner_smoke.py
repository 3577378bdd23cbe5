"""End-to-end check of the thin path on real data: a GSM8K item hidden in a C4 page."""

from __future__ import annotations

from service.scanner import Scanner, ScanSettings
from tests.conftest import TORCH_MODULES, fresh_process_output


def test_verbatim_gsm8k_item_in_c4_page_is_removed(small_index, small_corpora, web_docs):
    scanner = Scanner.load(small_index, settings=ScanSettings(tiers=("verbatim",)))
    item = small_corpora[0].items[7]
    page = web_docs[3]
    cut = len(page) // 2
    doc = page[:cut] + "\n" + item.text + "\n" + page[cut:]

    result = scanner.scan(doc, doc_id="c4-3")

    assert result.decision.value == "remove"
    top = result.matches[0]
    assert (top.corpus, top.ref_id) == ("gsm8k-test", item.id)
    start, end = top.doc_span
    assert doc[start:end].split()[:4] == item.text.split()[:4]
    assert scanner.scan(page).decision.value == "keep"


def test_a_scanner_with_the_default_backend_starts_without_torch(small_index, small_corpora):
    """A scan process (CLI, shard worker, server) pays no 7 s torch import: auto is
    onnx-fp32 here, and nothing else on the scan path imports torch."""
    item = small_corpora[0].items[7]
    code = (
        "import sys\n"
        "from service.scanner import Scanner\n"
        f"scanner = Scanner.load({str(small_index)!r})\n"
        f"result = scanner.scan({item.text!r})\n"
        "print(scanner.paraphrase.embedder.backend, result.decision.value,\n"
        f"      [name for name in {TORCH_MODULES!r} if name in sys.modules])\n"
    )
    assert fresh_process_output(code) == "onnx-fp32 remove []"


def test_a_scanner_given_threads_keeps_faiss_to_them(small_index):
    """A pool worker owns one core: FAISS's OpenMP pool of one thread per core in each of
    them made both-tier shard scans spend far more CPU spinning than searching."""
    code = (
        "import faiss\n"
        "from service.scanner import Scanner, ScanSettings\n"
        "before = faiss.omp_get_max_threads()\n"
        f"Scanner.load({str(small_index)!r}, settings=ScanSettings(threads=1))\n"
        "print(before, faiss.omp_get_max_threads())\n"
    )
    before, after = fresh_process_output(code).split()
    assert after == "1" and int(before) >= 1
