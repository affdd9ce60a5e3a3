"""The weights registry, fetch (against a local HTTP server), verify and the `weights` CLI."""

import dataclasses
import hashlib
import os
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from inpainterz_core import download, registry, weights
from inpainterz_core.download import RemoteFile
from inpainterz_core.errors import InputError, MissingWeightsError
from inpainterz_core.registry import ModelEntry
from inpainterz_core.weights_cli import run_weights_command

PAYLOAD = os.urandom(64 * 1024)


class FileServer:
    """127.0.0.1 HTTP server: /file.bin (with Range support unless turned off), a Drive-like warning page
    at /warning that leads to it, and a plain web page at /page. Records every request."""

    def __init__(self):
        self.requests: list[tuple[str, dict]] = []
        self.honour_range = True
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                server.requests.append((self.path, dict(self.headers)))
                path = urlparse(self.path).path
                if path == "/file.bin":
                    self._send_file()
                elif path == "/warning":
                    target = f"http://127.0.0.1:{server.port}/file.bin"
                    self._send_html(
                        f'<form id="download-form" action="{target}" method="get">'
                        '<input type="hidden" name="id" value="abc"><input type="hidden" name="confirm" value="t">'
                        "</form>"
                    )
                else:
                    self._send_html("<html><body>Sign in to continue</body></html>")

            def _send_file(self):
                start = 0
                ranged = server.honour_range and self.headers.get("Range")
                if ranged:
                    start = int(ranged.removeprefix("bytes=").split("-")[0])
                    if start >= len(PAYLOAD):
                        self.send_response(416)
                        self.end_headers()
                        return
                body = PAYLOAD[start:]
                self.send_response(206 if ranged else 200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(body)))
                if ranged:
                    self.send_header("Content-Range", f"bytes {start}-{len(PAYLOAD) - 1}/{len(PAYLOAD)}")
                self.end_headers()
                self.wfile.write(body)

            def _send_html(self, page):
                body = page.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_port
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = FileServer()
    yield s
    s.close()


@pytest.fixture
def tiny(server, monkeypatch):
    """A registry entry for PAYLOAD, served by the local server."""
    entry = ModelEntry(
        name="tiny",
        stages=("track",),
        description="64 KiB of random bytes",
        licence="MIT",
        commercial_use=True,
        files=(
            RemoteFile(
                "tiny.bin",
                (f"{server.url}/file.bin",),
                size=len(PAYLOAD),
                sha256=hashlib.sha256(PAYLOAD).hexdigest(),
            ),
        ),
        make_backend=lambda *args: None,
        build_model=lambda: None,
    )
    monkeypatch.setitem(weights.REGISTRY, "tiny", entry)
    return entry


ALL = [
    "sam2.1-hiera-base-plus",
    "sam2.1-hiera-large",
    "sam2.1-hiera-small",
    "sam2.1-hiera-tiny",
    "grounding-dino-tiny",
    "grounding-dino-base",
    "edgetam",
    "sam_vit_b",
    "deaot_r50l",
    "e2fgvi_hq",
    "e2fgvi",
]


def test_registry_entries():
    assert [e.name for e in weights.list_entries()] == ALL
    sam = weights.get("sam_vit_b")
    assert sam.size == 375042383 and sam.licence == "Apache-2.0" and sam.commercial_use
    assert sam.files[0].sha256 == "ec2df62732614e57411cdcf32a23ffdf28910380d03139ee0f4fcbe91eb8c912"
    for name in ("e2fgvi", "e2fgvi_hq"):
        assert weights.get(name).licence == "CC-BY-NC-4.0" and not weights.get(name).commercial_use
    for size in ("tiny", "base"):
        dino = weights.get(f"grounding-dino-{size}")
        assert dino.stages == ("detect",) and dino.hf_layout
        assert dino.licence == "Apache-2.0" and dino.commercial_use
        assert (
            dino.urls[1]
            == f"https://huggingface.co/IDEA-Research/grounding-dino-{size}/resolve/main/model.safetensors"
        )
        required = {f.file_name for f in dino.files if not f.optional}
        assert required == {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"}
    assert registry.choices("detect") == ("auto", "grounding-dino-tiny", "grounding-dino-base")
    assert "detect" in registry.STAGES and "detect" not in registry.CLASSICAL


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(InputError, match=", ".join(ALL)):
        weights.get("sam_vit_h")


def test_path_for_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("INPAINTERZ_CKPT_DIR", str(tmp_path))
    assert weights.path_for("sam_vit_b") == tmp_path / "sam_vit_b_01ec64.pth"
    assert not weights.present("sam_vit_b")
    (tmp_path / "sam_vit_b_01ec64.pth").write_bytes(b"x")
    assert weights.present("sam_vit_b")
    assert weights.path_for("sam_vit_b", tmp_path / "other") == tmp_path / "other" / "sam_vit_b_01ec64.pth"


def test_fetch_downloads_and_checks(tiny, tmp_path):
    path = weights.fetch("tiny", tmp_path, progress=False)
    assert path == tmp_path / "tiny.bin" and path.read_bytes() == PAYLOAD
    assert not (tmp_path / "tiny.bin.part").exists()
    assert weights.fetch("tiny", tmp_path, progress=False) == path  # already there: nothing to do


def test_fetch_resumes_a_partial_download(tiny, server, tmp_path):
    half = len(PAYLOAD) // 2
    (tmp_path / "tiny.bin.part").write_bytes(PAYLOAD[:half])
    weights.fetch("tiny", tmp_path, progress=False)
    assert (tmp_path / "tiny.bin").read_bytes() == PAYLOAD
    assert server.requests[-1][1].get("Range") == f"bytes={half}-"


def test_fetch_starts_over_when_the_server_ignores_range(tiny, server, tmp_path):
    server.honour_range = False
    (tmp_path / "tiny.bin.part").write_bytes(PAYLOAD[:1000])
    weights.fetch("tiny", tmp_path, progress=False)
    assert (tmp_path / "tiny.bin").read_bytes() == PAYLOAD


def test_wrong_hash_leaves_nothing_under_the_final_name(tiny, tmp_path, monkeypatch):
    wrong = dataclasses.replace(tiny.files[0], sha256="0" * 64)
    monkeypatch.setitem(weights.REGISTRY, "tiny", dataclasses.replace(tiny, files=(wrong,)))
    with pytest.raises(MissingWeightsError, match="sha256") as info:
        weights.fetch("tiny", tmp_path, progress=False)
    assert not (tmp_path / "tiny.bin").exists() and not (tmp_path / "tiny.bin.part").exists()
    assert "\n" not in str(info.value) and str(tmp_path / "tiny.bin") in str(info.value)


def test_server_down_is_one_clear_line(tiny, tmp_path):
    with socket.socket() as s:  # a port that nothing listens on
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    with pytest.raises(MissingWeightsError) as info:
        weights.fetch("tiny", tmp_path, progress=False, urls=[f"http://127.0.0.1:{closed}/file.bin"])
    message = str(info.value)
    assert "\n" not in message
    assert "download it by hand from" in message and str(tmp_path / "tiny.bin") in message
    assert not (tmp_path / "tiny.bin").exists()


def test_drive_warning_page_is_followed(tiny, server, tmp_path):
    weights.fetch("tiny", tmp_path, progress=False, urls=[f"{server.url}/warning"])
    assert (tmp_path / "tiny.bin").read_bytes() == PAYLOAD
    assert parse_qs(urlparse(server.requests[-1][0]).query) == {"id": ["abc"], "confirm": ["t"]}


def test_a_web_page_is_never_saved_as_a_checkpoint(tiny, server, tmp_path):
    with pytest.raises(MissingWeightsError, match="web page"):
        weights.fetch("tiny", tmp_path, progress=False, urls=[f"{server.url}/page"])
    assert not (tmp_path / "tiny.bin").exists()


def test_existing_file_of_the_wrong_size_is_reported(tiny, tmp_path):
    (tmp_path / "tiny.bin").write_bytes(b"short")
    with pytest.raises(MissingWeightsError, match="already there"):
        weights.fetch("tiny", tmp_path, progress=False)


def test_manual_entry_says_how_to_get_it(tmp_path):
    with pytest.raises(MissingWeightsError, match="zip") as info:
        weights.fetch("e2fgvi", tmp_path, progress=False)
    assert str(tmp_path / "E2FGVI-CVPR22.pth") in str(info.value)


def test_drive_share_links_become_direct_downloads():
    share = "https://drive.google.com/file/d/1QoChMkTVxdYZ_eBlZhK2acq9KMQZccPJ/view?usp=sharing"
    assert download._direct_url(share) == (
        "https://drive.usercontent.google.com/download?id=1QoChMkTVxdYZ_eBlZhK2acq9KMQZccPJ&export=download&confirm=t"
    )
    plain = "https://dl.fbaipublicfiles.com/segment_anything/sam_vit_b_01ec64.pth"
    assert download._direct_url(plain) == plain


# --- verify -------------------------------------------------------------------------------------


def save_like(model, path: Path, drop: str | None = None, reshape: str | None = None) -> None:
    """torch.save a state dict with the model's keys and shapes, tiny on disk: each tensor is a
    zero-stride view of one number (the file keeps one element per tensor)."""
    import torch

    state = {k: torch.zeros(1).expand(v.shape) for k, v in model.state_dict().items() if k != drop}
    if reshape is not None:
        state[reshape] = torch.zeros(1).expand(3, 3)
    torch.save(state, path)


@pytest.mark.parametrize("name", ["sam_vit_b", "deaot_r50l", "e2fgvi", "e2fgvi_hq"])
def test_verify_compares_keys_and_shapes_with_the_model(name, tmp_path, monkeypatch):
    pytest.importorskip("torch")
    entry = weights.get(name)
    try:
        model = entry.build_model()
    except ImportError as e:
        pytest.skip(f"the {entry.used_by} model does not import yet: {e}")
    # The registry's size and hash describe the real file; this one only has the right keys and shapes.
    unchecked = tuple(dataclasses.replace(f, size=None, sha256=None) for f in entry.files)
    monkeypatch.setitem(weights.REGISTRY, name, dataclasses.replace(entry, files=unchecked))
    path = weights.path_for(name, tmp_path)
    save_like(model, path)
    assert weights.verify(name, tmp_path) == []

    dropped, reshaped = list(model.state_dict())[:2]
    save_like(model, path, drop=dropped, reshape=reshaped)
    problems = " ".join(weights.verify(name, tmp_path))
    assert "1 missing keys" in problems and dropped in problems
    assert "1 shape mismatches" in problems and reshaped in problems


def test_verify_reports_missing_unreadable_and_wrong_size_files(tmp_path):
    assert "missing" in weights.verify("sam_vit_b", tmp_path)[0]
    weights.path_for("sam_vit_b", tmp_path).write_bytes(b"not a checkpoint")
    problems = weights.verify("sam_vit_b", tmp_path)
    assert "has 16 bytes, expected 375042383" in problems[0]
    assert "unreadable" in problems[1]


# --- the CLI ------------------------------------------------------------------------------------


def test_cli_list_shows_every_entry_and_flags_non_commercial(capsys, tmp_path):
    assert run_weights_command(["list", "--ckpt-dir", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    for entry in weights.list_entries():
        line = next(line for line in lines if line.startswith(entry.name + " "))
        assert entry.file_name in line and "missing" in line and entry.licence in line
        assert ("NON-COMMERCIAL" in line) == (not entry.commercial_use)
        assert any(entry.urls[0] in line for line in lines)


def test_cli_errors_are_one_line_and_exit_1(capsys, tmp_path):
    assert run_weights_command(["fetch", "nope"]) == 1
    assert capsys.readouterr().err.strip().count("\n") == 0
    assert run_weights_command(["verify", "sam_vit_b", "--ckpt-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: sam_vit_b:") and err.strip().count("\n") == 0


def test_cli_fetch_one(tiny, capsys, tmp_path):
    assert run_weights_command(["fetch", "tiny", "--ckpt-dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out.strip() == f"tiny: {tmp_path / 'tiny.bin'}"


def test_ckpt_readme_lists_every_file():
    readme = (Path(__file__).resolve().parents[1] / "ckpt" / "README.md").read_text()
    for entry in weights.list_entries():
        assert f"`{entry.file_name}`" in readme
        assert entry.size is None or str(entry.size) in readme


def test_every_stage_setting_and_cli_choice_comes_from_the_registry():
    from inpainterz_core.cli import build_parser

    parser = build_parser()
    args = parser.parse_args(
        [
            "remove",
            "clip.mp4",
            "-o",
            "out",
            "--segmenter",
            "edgetam",
            "--tracker",
            "sam2.1-hiera-tiny",
            "--inpaint-model",
            "e2fgvi",
        ]
    )
    assert (args.segmenter, args.tracker, args.inpaint_model) == ("edgetam", "sam2.1-hiera-tiny", "e2fgvi")
    for stage in registry.STAGES:
        assert set(registry.choices(stage)) == {"auto"} | {
            e.name for e in weights.list_entries() if stage in e.stages
        }
    with pytest.raises(SystemExit):
        parser.parse_args(["remove", "clip.mp4", "-o", "out", "--tracker", "sam_vit_b"])  # a segmenter only


def test_no_import_circle_between_the_weights_and_the_model_builders():
    """The builders read checkpoints through ``checkpoints`` only; ``weights`` and ``registry`` import no model."""
    root = Path(__file__).resolve().parents[1] / "inpainterz_core"
    for module in ("track/deaot/model.py", "inpaint/e2fgvi/generator.py", "segment/sam.py"):
        text = (root / module).read_text()
        assert "weights import" not in text and "registry import" not in text, module
    for module in ("weights.py", "registry.py", "checkpoints.py", "download.py"):
        top_level = [
            line for line in (root / module).read_text().splitlines() if line.startswith(("from", "import"))
        ]
        assert not [
            line for line in top_level if "track" in line or "inpaint" in line or "segment" in line
        ], module


# --- the Hugging Face layout ------------------------------------------------------------------------------


class HubServer(FileServer):
    """Serves /org/repo/resolve/main/NAME like huggingface.co: a HEAD on an LFS file answers with a redirect
    carrying its sha256 (X-Linked-Etag) and size; a file the repository lacks is a 404."""

    def __init__(self, files: dict[str, bytes], lfs: set[str], etag_override: str | None = None):
        super().__init__()
        self.files = files
        hub = self

        def route(handler, head: bool):
            hub.requests.append((handler.command + " " + handler.path, dict(handler.headers)))
            name = handler.path.rsplit("/", 1)[-1]
            if name not in hub.files:
                handler.send_response(404)
                handler.end_headers()
                return
            body = hub.files[name]
            if head and name in lfs:
                handler.send_response(302)
                handler.send_header("Location", handler.path)
                handler.send_header("X-Linked-Etag", f'"{etag_override or hashlib.sha256(body).hexdigest()}"')
                handler.send_header("X-Linked-Size", str(len(body)))
                handler.end_headers()
                return
            start = int(handler.headers.get("Range", "bytes=0-").removeprefix("bytes=").split("-")[0])
            handler.send_response(206 if start else 200)
            handler.send_header("Content-Type", "application/octet-stream")
            handler.send_header("Content-Length", str(len(body) - start))
            handler.end_headers()
            if not head:
                handler.wfile.write(body[start:])

        handler_class = self.httpd.RequestHandlerClass
        handler_class.do_HEAD = lambda handler: route(handler, True)
        handler_class.do_GET = lambda handler: route(handler, False)


def _hub_entry(url: str) -> ModelEntry:
    base = registry.get("sam2.1-hiera-tiny")
    files = tuple(
        dataclasses.replace(f, urls=(f"{url}/facebook/sam2.1-hiera-tiny/resolve/main/{f.file_name}",))
        for f in base.files
    )
    return dataclasses.replace(base, files=files)


def test_fetch_a_hugging_face_folder_checks_the_published_sha256(tmp_path, monkeypatch):
    weights_bytes = os.urandom(50_000)
    files = {"config.json": b"{}", "model.safetensors": weights_bytes, "processor_config.json": b"{}"}
    hub = HubServer(files, lfs={"model.safetensors"})
    try:
        monkeypatch.setitem(weights.REGISTRY, "sam2.1-hiera-tiny", _hub_entry(hub.url))
        folder = tmp_path / "sam2.1-hiera-tiny"
        (folder).mkdir()
        (folder / "model.safetensors.part").write_bytes(weights_bytes[:20_000])  # an interrupted download
        assert weights.fetch("sam2.1-hiera-tiny", tmp_path, progress=False) == folder
        assert (folder / "model.safetensors").read_bytes() == weights_bytes
        assert sorted(p.name for p in folder.iterdir()) == [
            "config.json",
            "model.safetensors",
            "processor_config.json",
        ]
        assert weights.present("sam2.1-hiera-tiny", tmp_path)
        ranged = [h.get("Range") for r, h in hub.requests if r.startswith("GET") and "model.safetensors" in r]
        assert ranged == ["bytes=20000-"]
    finally:
        hub.close()


def test_a_hugging_face_file_whose_hash_differs_is_not_kept(tmp_path, monkeypatch):
    files = {"config.json": b"{}", "model.safetensors": b"tampered bytes"}
    hub = HubServer(files, lfs={"model.safetensors"}, etag_override="a" * 64)
    try:
        monkeypatch.setitem(weights.REGISTRY, "sam2.1-hiera-tiny", _hub_entry(hub.url))
        with pytest.raises(MissingWeightsError, match="sha256") as info:
            weights.fetch("sam2.1-hiera-tiny", tmp_path, progress=False)
        assert "\n" not in str(info.value)
        assert not (tmp_path / "sam2.1-hiera-tiny" / "model.safetensors").exists()
        assert not weights.present("sam2.1-hiera-tiny", tmp_path)
    finally:
        hub.close()


def test_offline_is_one_clear_line(tmp_path, monkeypatch, capsys):
    entry = _hub_entry("http://no-such-host.invalid")  # .invalid never resolves, as on a machine offline
    monkeypatch.setitem(weights.REGISTRY, "sam2.1-hiera-tiny", entry)
    assert run_weights_command(["fetch", "sam2.1-hiera-tiny", "--ckpt-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: no network:") and err.strip().count("\n") == 0
    assert not (tmp_path / "sam2.1-hiera-tiny" / "config.json").exists()


def test_verify_a_hugging_face_folder(tmp_path):
    pytest.importorskip("transformers")
    import torch
    from safetensors.torch import load_file, save_file

    from bench.standins import save_standin

    folder = save_standin(tmp_path / "sam2.1-hiera-tiny", "sam2", size=64)
    assert weights.verify("sam2.1-hiera-tiny", tmp_path) == []
    state = load_file(folder / "model.safetensors")
    dropped = sorted(state)[0]
    del state[dropped]
    state["memory_encoder.extra"] = torch.zeros(1)
    save_file(state, folder / "model.safetensors")
    problems = " ".join(weights.verify("sam2.1-hiera-tiny", tmp_path))
    assert "1 missing keys" in problems and dropped in problems and "memory_encoder.extra" in problems
    (folder / "model.safetensors").write_bytes(b"truncated")
    assert "unreadable" in " ".join(weights.verify("sam2.1-hiera-tiny", tmp_path))


# --- Grounding DINO: a Hugging Face folder with a tokenizer ------------------------------------------------


def _dino_hub_entry(url: str) -> ModelEntry:
    base = registry.get("grounding-dino-tiny")
    files = tuple(
        dataclasses.replace(f, urls=(f"{url}/IDEA-Research/grounding-dino-tiny/resolve/main/{f.file_name}",))
        for f in base.files
    )
    return dataclasses.replace(base, files=files)


def test_fetch_grounding_dino_needs_its_tokenizer_and_takes_the_optional_files_there_are(
    tmp_path, monkeypatch
):
    files = {
        "config.json": b"{}",
        "model.safetensors": os.urandom(20_000),
        "preprocessor_config.json": b"{}",
        "tokenizer_config.json": b"{}",
        "vocab.txt": b"[PAD]",
    }
    hub = HubServer(files, lfs={"model.safetensors"})
    try:
        monkeypatch.setitem(weights.REGISTRY, "grounding-dino-tiny", _dino_hub_entry(hub.url))
        with pytest.raises(MissingWeightsError, match="tokenizer.json") as info:
            weights.fetch("grounding-dino-tiny", tmp_path, progress=False)
        assert "\n" not in str(info.value)
        assert not weights.present("grounding-dino-tiny", tmp_path)
        files["tokenizer.json"] = b"{}"
        folder = weights.fetch("grounding-dino-tiny", tmp_path, progress=False)
        assert sorted(p.name for p in folder.iterdir()) == sorted(files)
        assert weights.present("grounding-dino-tiny", tmp_path)
        (folder / "tokenizer.json").unlink()
        assert not weights.present("grounding-dino-tiny", tmp_path)  # no tokenizer: it cannot run
    finally:
        hub.close()


def test_verify_a_grounding_dino_folder(tmp_path):
    pytest.importorskip("transformers")
    import torch
    from safetensors.torch import load_file, save_file

    from bench.standins import grounding_dino_standin

    folder = grounding_dino_standin(tmp_path / "grounding-dino-tiny")
    assert weights.verify("grounding-dino-tiny", tmp_path) == []
    state = load_file(folder / "model.safetensors")
    # A file that also holds the weights tied to others (older transformers wrote them) is fine.
    tied = {
        k.replace("bbox_embed.0.", "bbox_embed.1."): v.clone()
        for k, v in state.items()
        if k.startswith("bbox_embed.0.")
    }
    assert tied
    save_file({**state, **tied}, folder / "model.safetensors")
    assert weights.verify("grounding-dino-tiny", tmp_path) == []
    # Keys are compared as the file names them (Swin's attention.self.query, not transformers 5's q_proj).
    dropped = next(k for k in sorted(state) if "attention.self.query" in k)
    del state[dropped]
    state["model.extra"] = torch.zeros(1)
    save_file(state, folder / "model.safetensors")
    problems = " ".join(weights.verify("grounding-dino-tiny", tmp_path))
    assert "1 missing keys" in problems and dropped in problems and "model.extra" in problems
