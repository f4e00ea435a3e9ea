"""The exported web page: index.html that runs the generator in the browser, with no network.

A page opened from the file system (file://) may not fetch() files beside it, nor load ES modules from them
(Chromium treats every file:// URL as a unique origin), and WebAssembly threads need cross-origin isolation
that neither file:// nor a plain static host gives. So everything the page needs arrives as classic scripts:

  index.html, page.js            the page (copied from web/)
  model.js                       the manifest and the ONNX model, base64
  onnxruntime-web/ort.js         onnxruntime-web's WebAssembly-only ES module bundle, base64; page.js imports it
                                 from a blob: URL, which file:// pages may do
  onnxruntime-web/ort-wasm.js    its WebAssembly binary, gzip + base64 (unpacked by DecompressionStream) and
                                 handed to it as env.wasm.wasmBinary, single-threaded
  onnxruntime-web/LICENSE.txt    MIT, Microsoft
"""

from __future__ import annotations

import base64
import functools
import gzip
import hashlib
import json
import lzma
import shutil
from pathlib import Path
from typing import Any

from dcgan.errors import DcganError

WEB = Path(__file__).parent / "web"
VENDOR = WEB / "vendor" / "onnxruntime-web"
ORT_WEB_VERSION = "1.31.1"
BUNDLE = "ort.wasm.bundle.min.mjs"
WASM_XZ = "ort-wasm-simd-threaded.wasm.xz"
SHA256 = {BUNDLE: "51bd7168175767324ab0acfcfc4ca94a096a3826e3ebac9ccc4f195eb865f8dd",
          "ort-wasm-simd-threaded.wasm": "4b884c203b0fa48d057be3332c65513ff85aa3c5bddd6946acc0fab7ecda001d"}
PAGE_FILES = ("index.html", "page.js")
ORT_DIR = "onnxruntime-web"


def checked(name: str, data: bytes) -> bytes:
    if hashlib.sha256(data).hexdigest() != SHA256[name]:
        raise DcganError(f"the vendored onnxruntime-web file {name} is damaged (sha256 mismatch); reinstall dcgan")
    return data


@functools.lru_cache(maxsize=1)
def ort_scripts() -> tuple[str, str]:
    """(ort.js, ort-wasm.js): onnxruntime-web as classic scripts. Cached: the wasm takes ~1 s to repack."""
    bundle = checked(BUNDLE, (VENDOR / BUNDLE).read_bytes())
    # Drop the source-map comment: the map is not shipped, and devtools would ask for it.
    bundle = bundle.replace(f"//# sourceMappingURL={BUNDLE}.map".encode(), b"")
    wasm = checked("ort-wasm-simd-threaded.wasm", lzma.decompress((VENDOR / WASM_XZ).read_bytes()))
    head = (f"// onnxruntime-web {ORT_WEB_VERSION} (MIT, Microsoft; LICENSE.txt beside this file), the WebAssembly "
            f"build, as a classic script so that pages opened from file:// can load it.\n"
            f"window.ORT_WEB = window.ORT_WEB || {{}};\nwindow.ORT_WEB.version = {json.dumps(ORT_WEB_VERSION)};\n")
    ort_js = head + f"// dist/{BUNDLE}, base64\nwindow.ORT_WEB.bundle = \"{base64.b64encode(bundle).decode()}\";\n"
    packed = base64.b64encode(gzip.compress(wasm, compresslevel=9, mtime=0)).decode()
    wasm_js = head + f"// dist/ort-wasm-simd-threaded.wasm, gzip, base64\nwindow.ORT_WEB.wasm = \"{packed}\";\n"
    return ort_js, wasm_js


def write_page(folder: Path, onnx: bytes, manifest: dict[str, Any]) -> list[str]:
    """The page's files into `folder`; returns their names relative to it."""
    for name in PAGE_FILES:
        shutil.copyfile(WEB / name, folder / name)
    model = base64.b64encode(onnx).decode()
    (folder / "model.js").write_text(
        "// The exported generator for index.html: its manifest and ONNX model (base64), as a classic script.\n"
        f"window.DCGAN_EXPORT = {{\"manifest\": {json.dumps(manifest)},\n\"model\": \"{model}\"}};\n",
        encoding="utf-8")
    ort_js, wasm_js = ort_scripts()
    (folder / ORT_DIR).mkdir()
    (folder / ORT_DIR / "ort.js").write_text(ort_js, encoding="utf-8")
    (folder / ORT_DIR / "ort-wasm.js").write_text(wasm_js, encoding="utf-8")
    shutil.copyfile(VENDOR / "LICENSE", folder / ORT_DIR / "LICENSE.txt")  # .txt: a static host serves it as text
    return [*PAGE_FILES, "model.js", f"{ORT_DIR}/ort.js", f"{ORT_DIR}/ort-wasm.js", f"{ORT_DIR}/LICENSE.txt"]
