"""What produced a result: the commit of a real git checkout (clean, dirty, none) and the CPU from a cpuinfo file."""

from __future__ import annotations

import subprocess
from pathlib import Path

from lmna_scrna import provenance


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True, text=True).stdout.strip()


def test_commit_names_the_sha_and_says_when_the_tree_has_uncommitted_changes(tmp_path: Path) -> None:
    _git(tmp_path, "init", "-q")
    (tmp_path / "a.py").write_text("x = 1\n")
    _git(tmp_path, "add", "a.py")
    _git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "first")
    sha = _git(tmp_path, "rev-parse", "HEAD")
    assert provenance.commit(tmp_path) == sha
    (tmp_path / "a.py").write_text("x = 2\n")
    assert provenance.commit(tmp_path) == f"{sha} + uncommitted changes"
    _git(tmp_path, "checkout", "-q", "a.py")
    (tmp_path / "new_module.py").write_text("")  # untracked, not ignored: it could run
    assert provenance.commit(tmp_path) == f"{sha} + uncommitted changes"
    (tmp_path / ".gitignore").write_text("new_module.py\n.gitignore\n")
    assert provenance.commit(tmp_path) == sha


def test_a_folder_outside_git_is_said_to_be_no_checkout(tmp_path: Path) -> None:
    assert provenance.commit(tmp_path) == provenance.NO_CHECKOUT


def test_cpu_model_family_and_the_vector_flags_that_matter(tmp_path: Path) -> None:
    info = tmp_path / "cpuinfo"
    core = ("processor\t: {n}\nvendor_id\t: AuthenticAMD\ncpu family\t: 26\nmodel\t\t: 2\n"
            "model name\t: AMD EPYC\nflags\t\t: fpu sse4_2 avx avx2 fma avx512f avx512_bf16 ht\n")
    info.write_text("\n".join(core.format(n=n) for n in range(2)))
    found = provenance.cpu(info)
    assert found == {"model": "AMD EPYC (family 26, model 2)", "flags": "sse4_2, avx, avx2, fma, avx512f, avx512_bf16"}
    assert provenance.vector_words(found["flags"]) == "AVX-512"
    assert provenance.vector_words("sse4_2, avx, avx2") == "AVX2" and provenance.vector_words("") == "no AVX"
    assert provenance.cpu(tmp_path / "absent")["flags"] == "unknown"


def test_environment_lists_every_installed_package_and_the_key_ones() -> None:
    env = provenance.environment()
    assert len(env["installed"]) > 100 and env["installed"]["numpy"] == env["packages"]["numpy"]
    for name in ("tensorflow", "keras", "numpy", "scipy", "anndata", "scanpy", "papermill", "jupyter-book"):
        assert env["packages"][name] != "not installed", name
    assert provenance.key_packages({})["tensorflow"] == "not installed"
