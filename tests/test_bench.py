import json

from conftest import run_cli


def test_bench_runs_and_prints_the_fields(tmp_path):
    result = run_cli("bench", "--steps", "2", "--image-size", "28", "--g-width", "16", "--d-width", "16",
                     "--batch-size", "32", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    r = json.loads(result.stdout)
    for section in ("train", "baseline", "generate"):
        assert r[section]["images_per_s"] > 0
    assert r["train"]["gflop_per_image"] > 0 and 0 < r["train"]["mfu"] < 5
    assert r["speedup"] == r["train"]["images_per_s"] / r["baseline"]["images_per_s"]
    assert r["peak_rss_mb"] > 0 and r["peak_gflops"] > 0
    # The yardstick is the best square product of both CPU libraries: MKL's matmul and oneDNN's (a 1x1 convolution).
    assert set(r["peaks"]) == {"matmul", "onednn"} and r["peak_gflops"] == max(r["peaks"].values())
    assert r["data"].startswith("fashion-mnist") and r["command"].startswith("dcgan bench")
    assert r["cpu"]["capability"] in ("DEFAULT", "AVX2", "AVX512", "SVE256", "ZVECTOR", "VSX")
    # Our step skips D's weight gradients in G's update: fewer FLOPs than the textbook step, same model.
    assert r["train"]["gflop_per_image"] < r["baseline"]["gflop_per_image"]


def test_bench_table_names_the_reproducing_command(tmp_path):
    result = run_cli("bench", "--steps", "1", "--image-size", "16", "--dataset", "cifar10", "--g-width", "8",
                     "--d-width", "8", "--batch-size", "16", "--no-baseline", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "random pixels" in result.stdout and "MFU" in result.stdout and "native bf16:" in result.stdout
    assert "reproduce: dcgan bench --steps 1" in result.stdout
    assert "minibatch discrimination 100" in result.stdout  # as dcgan train's defaults
    assert "(the best of matmul " in result.stdout and ", onednn " in result.stdout


def test_bench_times_the_papers_networks_without_minibatch_discrimination(tmp_path):
    def gflop_per_image(*option: str) -> float:
        result = run_cli("bench", "--steps", "1", "--image-size", "16", "--g-width", "8", "--d-width", "8",
                         "--batch-size", "8", "--json", *option, cwd=tmp_path)
        assert result.returncode == 0, result.stderr[-2000:]
        r = json.loads(result.stdout)
        return r["config"]["minibatch_discrimination"], r["train"]["gflop_per_image"], r["baseline"]["gflop_per_image"]

    kernels, ours, textbook = gflop_per_image("--minibatch-discrimination", "0")
    default_kernels, ours_md, textbook_md = gflop_per_image()
    assert (kernels, default_kernels) == (0, 100)
    assert ours_md > ours and textbook_md > textbook  # both loops train the same D: with its layer, or without
