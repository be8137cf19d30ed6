"""The one image reader (nnscratch.data.images): modes, orientation, resizing, and the files it
refuses (not regular, not an image, truncated, zero-sized, decompression bombs), for one file
and for many; and ``nnscratch predict`` on a mix of good and bad files.

Every image is made here with Pillow or NumPy in tmp_path (a few PNG headers by hand).
"""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pytest

from nnscratch.base.errors import DataError
from nnscratch.data import images as images_module
from nnscratch.data.images import MAX_PIXELS, read_image, read_images

Image = pytest.importorskip("PIL.Image")


def _png_bytes(
    width: int, height: int, *, depth: int = 8, color_type: int = 2, rows=b"", idat=None
) -> bytes:
    """A PNG file by hand: IHDR declaring ``width`` x ``height``, one IDAT of ``rows`` (or the
    compressed ``idat``), IEND."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, depth, color_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows) if idat is None else idat)
        + chunk(b"IEND", b"")
    )


def _refused(path, *fragments, **kwargs) -> str:
    with pytest.raises(DataError) as info:
        read_image(path, **kwargs)
    message = str(info.value)
    assert message.startswith(f"cannot read image {path}: "), message
    for fragment in fragments:
        assert fragment in message, message
    return message


# ---- pixel values: every mode to uint8 ------------------------------------------------------


@pytest.mark.parametrize(("fmt", "dtype"), [("png", "<u2"), ("tif", "<u2"), ("tif", ">u2")])
def test_16_bit_grayscale_is_rescaled_not_clipped(tmp_path, fmt, dtype):
    levels = np.arange(256)
    path = tmp_path / f"gradient.{fmt}"
    Image.fromarray(np.tile(levels * 257, (4, 1)).astype(dtype)).save(path)
    with Image.open(path) as img:
        assert img.mode.startswith("I;16")
    gray = read_image(path, color="grayscale")
    assert gray.dtype == np.uint8 and gray.shape == (4, 256, 1)
    np.testing.assert_array_equal(gray[0, :, 0], levels)  # 257 k -> k, not min(257 k, 255)
    rgb = read_image(path)
    assert rgb.shape == (4, 256, 3) and (rgb == gray).all()
    # in between: v * 255 / 65535 rounded
    Image.fromarray(np.array([[128, 129, 32767, 65534]], dtype=np.uint16)).save(path)
    np.testing.assert_array_equal(read_image(path, color="keep")[0, :, 0], [0, 1, 127, 255])


def test_16_bit_rgb_png_keeps_its_levels(tmp_path):
    # Pillow cannot write a 16-bit RGB PNG: write one (2 x 1, filter byte 0) by hand
    pixels = np.array([[[0, 257 * 10, 65535], [257 * 128, 257 * 200, 257]]], dtype=">u2")
    path = tmp_path / "rgb16.png"
    path.write_bytes(_png_bytes(2, 1, depth=16, rows=b"\x00" + pixels.tobytes()))
    np.testing.assert_array_equal(read_image(path), [[[0, 10, 255], [128, 200, 1]]])


def test_32_bit_integer_images(tmp_path):
    path = tmp_path / "int.tif"
    Image.fromarray(np.array([[0, 257, 65535]], dtype=np.int32)).save(path)
    with Image.open(path) as img:
        assert img.mode == "I"
    np.testing.assert_array_equal(read_image(path, color="keep")[0, :, 0], [0, 1, 255])
    # values beyond 16 bits are stretched from their minimum to their maximum
    Image.fromarray(np.array([[-100_000, 0, 100_000]], dtype=np.int32)).save(path)
    np.testing.assert_array_equal(read_image(path, color="keep")[0, :, 0], [0, 128, 255])


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (np.arange(256) / 255, np.arange(256)),  # [0, 1] -> * 255
        (np.array([0.0, 1.5, 100.0, 255.0]), [0, 2, 100, 255]),  # [0, 255] -> kept
        (np.array([-1.0, 0.0, 3.0]), [0, 64, 255]),  # any other range -> stretched
    ],
)
def test_float_tiff_is_rescaled(tmp_path, values, expected):
    path = tmp_path / "float.tif"
    Image.fromarray(values.astype(np.float32)[None, :]).save(path)
    with Image.open(path) as img:
        assert img.mode == "F"
    np.testing.assert_array_equal(read_image(path, color="grayscale")[0, :, 0], expected)


def test_float_tiff_with_nan_is_refused(tmp_path):
    path = tmp_path / "nan.tif"
    Image.fromarray(np.array([[0.5, np.nan]], dtype=np.float32)).save(path)
    _refused(path, "NaN or infinite")


def test_palette_with_and_without_transparency(tmp_path):
    indices = np.array([[0, 1], [2, 1]], dtype=np.uint8)
    palette = [10, 20, 30, 200, 0, 0, 0, 90, 0] + [0] * (256 * 3 - 9)
    img = Image.frombytes("P", (2, 2), indices.tobytes())
    img.putpalette(palette)
    opaque, keyed = tmp_path / "opaque.png", tmp_path / "keyed.png"
    img.save(opaque)
    img.save(keyed, transparency=1)  # palette entry 1 is transparent
    colors = {0: [10, 20, 30], 1: [200, 0, 0], 2: [0, 90, 0]}
    np.testing.assert_array_equal(
        read_image(opaque), [[colors[0], colors[1]], [colors[2], colors[1]]]
    )
    np.testing.assert_array_equal(
        read_image(keyed), [[colors[0], [255] * 3], [colors[2], [255] * 3]]
    )  # transparent -> white
    kept = read_image(keyed, color="keep")
    assert kept.shape == (2, 2, 4)
    np.testing.assert_array_equal(kept[..., 3], [[255, 0], [255, 0]])
    assert read_image(opaque, color="keep").shape == (2, 2, 3)
    gif = tmp_path / "keyed.gif"
    img.save(gif, transparency=1)
    np.testing.assert_array_equal(read_image(gif), read_image(keyed))


def test_rgba_is_composited_on_white_or_kept(tmp_path):
    pixels = np.array(
        [[[0, 0, 0, 255], [0, 0, 0, 0], [0, 0, 0, 128], [40, 80, 120, 255]]], np.uint8
    )
    path = tmp_path / "rgba.png"
    Image.fromarray(pixels).save(path)
    rgb = read_image(path)
    np.testing.assert_array_equal(rgb[0, :2], [[0, 0, 0], [255, 255, 255]])
    assert np.all(np.abs(rgb[0, 2].astype(int) - 127) <= 1)  # half-transparent black -> grey
    np.testing.assert_array_equal(rgb[0, 3], [40, 80, 120])
    np.testing.assert_array_equal(read_image(path, color="keep"), pixels)
    gray = read_image(path, color="grayscale")
    assert gray.shape == (1, 4, 1) and gray[0, 1, 0] == 255
    # LA: grey + alpha
    la = tmp_path / "la.png"
    Image.fromarray(pixels[..., [0, 3]]).save(la)  # (1, 4, 2) -> mode LA
    np.testing.assert_array_equal(read_image(la, color="keep"), pixels[..., [0, 3]])
    np.testing.assert_array_equal(read_image(la, color="grayscale")[0, :2, 0], [0, 255])


def test_cmyk_is_converted_to_rgb(tmp_path):
    cmyk = np.array([[[0, 0, 0, 0], [255, 0, 0, 0], [0, 0, 0, 255]]], np.uint8)
    path = tmp_path / "cmyk.tif"
    Image.frombytes("CMYK", (3, 1), cmyk.tobytes()).save(path)
    with Image.open(path) as img:
        assert img.mode == "CMYK"
    np.testing.assert_array_equal(read_image(path), [[[255, 255, 255], [0, 255, 255], [0, 0, 0]]])
    assert read_image(path, color="keep").shape == (1, 3, 3)


def test_bilevel_and_grayscale(tmp_path):
    path = tmp_path / "bits.png"
    Image.fromarray(np.array([[True, False]])).save(path)
    with Image.open(path) as img:
        assert img.mode == "1"
    np.testing.assert_array_equal(read_image(path, color="keep"), [[[255], [0]]])
    gray = tmp_path / "gray.png"
    Image.fromarray(np.array([[7, 200]], np.uint8)).save(gray)
    np.testing.assert_array_equal(read_image(gray), [[[7, 7, 7], [200, 200, 200]]])
    colour = tmp_path / "colour.png"
    Image.fromarray(np.array([[[255, 0, 0]]], np.uint8)).save(colour)
    assert read_image(colour, color="grayscale")[0, 0, 0] == 76  # 299/1000 of red (ITU-R 601-2)


def test_first_frame_of_an_animated_gif(tmp_path):
    path = tmp_path / "anim.gif"
    frames = [Image.new("RGB", (4, 4), c) for c in ((255, 0, 0), (0, 0, 255))]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=50, loop=0)
    with Image.open(path) as img:
        assert img.n_frames == 2
    np.testing.assert_array_equal(read_image(path)[0, 0], [255, 0, 0])


# ---- orientation and resizing ---------------------------------------------------------------


def _quadrants(height: int, width: int) -> np.ndarray:
    """(height, width, 3): four flat quadrants of distinct colours, so a rotation shows."""
    a = np.zeros((height, width, 3), np.uint8)
    h, w = height // 2, width // 2
    a[:h, :w], a[:h, w:], a[h:, :w], a[h:, w:] = (
        (250, 0, 0),
        (0, 250, 0),
        (0, 0, 250),
        (250, 250, 0),
    )
    return a


# EXIF orientation -> the transposition that stores an upright image so that it displays upright
STORED = {6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270}


@pytest.mark.parametrize("orientation", [6, 8])
@pytest.mark.parametrize("size", [None, (24, 36)])
def test_exif_rotated_jpeg_reads_upright(tmp_path, orientation, size):
    upright = _quadrants(240, 360)  # landscape, as a viewer shows it
    stored = Image.fromarray(upright).transpose(STORED[orientation])  # portrait on disk
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / "phone.jpg"
    stored.save(path, quality=95, exif=exif.tobytes())
    got = read_image(path, size=size)
    expected = upright if size is None else np.asarray(Image.fromarray(upright).resize(size[::-1]))
    assert got.shape == expected.shape
    assert np.abs(got.astype(int) - expected).mean() < 4, "read upright, not sideways"
    # without the orientation tag the same pixels read sideways
    stored.save(path, quality=95)
    assert read_image(path).shape == (360, 240, 3)


def test_resizing_a_large_jpeg_matches_a_full_decode(tmp_path):
    # the reader lets the JPEG decoder scale down (draft); the result stays that of a full decode
    rng = np.random.default_rng(0)
    smooth = np.asarray(
        Image.fromarray(rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)).resize(
            (1600, 1200), Image.Resampling.BICUBIC
        )
    )
    path = tmp_path / "big.jpg"
    Image.fromarray(smooth).save(path, quality=95)
    got = read_image(path, size=(60, 80))
    with Image.open(path) as img:
        full = np.asarray(img.convert("RGB").resize((80, 60), Image.Resampling.LANCZOS))
    assert got.shape == (60, 80, 3)
    assert np.abs(got.astype(int) - full).mean() < 2


def test_resize_to_any_size_and_channels_axis(tmp_path):
    path = tmp_path / "small.png"
    Image.fromarray(_quadrants(10, 14)).save(path)
    got = read_image(path, size=(31, 7))
    assert got.shape == (31, 7, 3) and got.dtype == np.uint8
    assert got.flags.writeable and got.flags.c_contiguous
    assert read_image(path, size=(5, 5), color="grayscale").shape == (5, 5, 1)
    np.testing.assert_array_equal(read_image(path, size=(10, 14)), _quadrants(10, 14))


# ---- files refused ------------------------------------------------------------------------------


@pytest.mark.timeout(30)
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_fifo_is_refused_at_once(tmp_path):
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    start = time.monotonic()
    _refused(fifo, "FIFO", "only regular files")
    assert time.monotonic() - start < 5, "refused without waiting for a writer"


@pytest.mark.timeout(30)
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_fifo_swapped_in_after_the_stat_check_is_refused_at_once(tmp_path, monkeypatch):
    # the path passes os.stat as a regular file, then is a FIFO when opened: the opened
    # descriptor is checked again, and opening it does not wait for a writer
    fifo, regular = tmp_path / "pipe.png", tmp_path / "regular.png"
    os.mkfifo(fifo)
    regular.write_bytes(b"x")
    real_stat = os.stat
    monkeypatch.setattr(
        os, "stat", lambda p, *a, **k: real_stat(regular if str(p) == str(fifo) else p, *a, **k)
    )
    start = time.monotonic()
    _refused(fifo, "FIFO", "only regular files")
    assert time.monotonic() - start < 5


def test_directory_device_missing_and_empty_files_are_refused(tmp_path):
    _refused(tmp_path, "a directory", "only regular files")
    if os.path.exists("/dev/null"):
        _refused("/dev/null", "character device")
    _refused(tmp_path / "absent.png", "no such file")
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    _refused(empty, "empty (0 bytes)")


def test_non_images_and_other_formats_are_refused(tmp_path):
    text = tmp_path / "notes.png"
    text.write_text("not an image at all")
    _refused(text, "not an image file", "PNG", "JPEG")
    icon = tmp_path / "icon.ico"  # a format Pillow reads but this reader does not
    Image.new("RGB", (16, 16)).save(icon)
    _refused(icon, "not an image file in a format read here")


@pytest.mark.parametrize("fmt", ["png", "jpg"])
def test_truncated_images_are_refused(tmp_path, fmt):
    path = tmp_path / f"cut.{fmt}"
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(noise).save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    _refused(path, "truncated or corrupt")
    path.write_bytes(data[:20])  # not even a whole header
    _refused(path, "corrupt or truncated")


@pytest.mark.parametrize(("width", "height"), [(0, 10), (10, 0)])
def test_zero_sized_image_is_refused(tmp_path, width, height):
    path = tmp_path / "zero.png"
    path.write_bytes(_png_bytes(width, height))
    _refused(path, f"declares {width} x {height} pixels", "at least 1 x 1")


@pytest.mark.parametrize(("width", "height"), [(100_000, 100_000), (9500, 9000)])
def test_decompression_bomb_is_refused_from_its_header(tmp_path, width, height):
    # a small file (no valid pixel data) declaring a huge image: beyond Pillow's own limit, or
    # between it and MAX_PIXELS; decoding would fail as "truncated", so the message shows that
    # the header alone refused it
    path = tmp_path / "bomb.png"
    path.write_bytes(_png_bytes(width, height, rows=b"\x00" * 100))
    assert path.stat().st_size < 200 and width * height > MAX_PIXELS
    message = _refused(path, "pixels")
    assert "truncated" not in message and ("decompression bomb" in message.lower())


def test_max_pixels_is_checked_before_decoding(tmp_path):
    path = tmp_path / "ok.png"
    Image.new("RGB", (100, 50)).save(path)
    assert read_image(path, max_pixels=5000).shape == (50, 100, 3)
    _refused(path, "100 x 50 = 5,000 pixels", "limit of 4,999", max_pixels=4999)


@pytest.mark.timeout(60)
def test_a_bomb_costs_no_memory(tmp_path):
    # 20000 x 20000 RGB is 1.2 GB decoded, a valid 9000 x 9000 one (1 MB file) 243 MB (its
    # decoding raises the peak by 540 MB); refusing both leaves a fresh process's peak memory
    # near its baseline
    bomb, big = tmp_path / "bomb.png", tmp_path / "big.png"
    bomb.write_bytes(_png_bytes(20_000, 20_000, rows=b"\x00" * 1000))
    compressor, row = zlib.compressobj(1), bytes(1 + 9000 * 3)  # a filter byte, black pixels
    zeros = b"".join(compressor.compress(row) for _ in range(9000)) + compressor.flush()
    big.write_bytes(_png_bytes(9000, 9000, idat=zeros))
    script = (
        "import resource, sys\n"
        "from nnscratch.data.images import read_image\n"
        "from nnscratch.base.errors import DataError\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "for path in sys.argv[1:]:\n"
        "    try:\n"
        "        read_image(path)\n"
        "        raise SystemExit('read ' + path)\n"
        "    except DataError:\n"
        "        pass\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script, str(bomb), str(big)],
        capture_output=True,
        text=True,
        timeout=50,
        env={**os.environ, "PYTHONPATH": str(Path(images_module.__file__).parents[2])},
    )
    assert proc.returncode == 0, proc.stderr
    assert int(proc.stdout) < 50 * 1024, f"peak grew by {int(proc.stdout)} KiB"  # KiB on Linux


def test_bad_arguments_raise_value_error(tmp_path):
    path = tmp_path / "ok.png"
    Image.new("RGB", (4, 4)).save(path)
    for size in [(0, 4), (4,), "64", (4.0, 4), (True, 4)]:
        with pytest.raises(ValueError, match="size must be"):
            read_image(path, size=size)
    with pytest.raises(ValueError, match="color must be one of rgb, grayscale, keep"):
        read_image(path, color="RGB")
    with pytest.raises(ValueError, match="max_pixels"):
        read_image(path, max_pixels=0)
    with pytest.raises(ValueError, match="on_bad_file must be one of skip, fail"):
        read_images([path], on_bad_file="ignore")


def test_missing_pillow_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "PIL", None)
    with pytest.raises(ImportError) as info:
        read_image(tmp_path / "any.png")
    message = str(info.value)
    assert "pip install 'nnscratch[app]'" in message and "\n" not in message


# ---- many files ---------------------------------------------------------------------------------


@pytest.fixture
def mixed(tmp_path) -> dict[str, Path]:
    """Two good images of different sizes, and four bad files."""
    files = {name: tmp_path / name for name in ("a.png", "b.jpg", "notes.txt", "bomb.png")}
    Image.fromarray(_quadrants(20, 30)).save(files["a.png"])
    Image.fromarray(_quadrants(64, 64)).save(files["b.jpg"], quality=95)
    files["notes.txt"].write_text("hello")
    files["bomb.png"].write_bytes(_png_bytes(100_000, 100_000))
    files["missing.png"] = tmp_path / "missing.png"
    files["dir"] = tmp_path / "dir"
    files["dir"].mkdir()
    return files


def test_read_images_skips_bad_files(mixed):
    order = ["a.png", "notes.txt", "b.jpg", "bomb.png", "missing.png", "dir"]
    stack = read_images([mixed[n] for n in order], size=(16, 16))
    images, paths, refused = stack
    assert images.shape == (2, 16, 16, 3) and images.dtype == np.uint8
    assert paths == [str(mixed["a.png"]), str(mixed["b.jpg"])]
    np.testing.assert_array_equal(images[0], read_image(mixed["a.png"], size=(16, 16)))
    assert [p for p, _ in refused] == [str(mixed[n]) for n in order if n not in ("a.png", "b.jpg")]
    for path, message in refused:
        assert message.startswith(f"cannot read image {path}: ")


def test_read_images_fail_raises_the_first_bad_file(mixed):
    with pytest.raises(DataError, match="notes.txt: it is not an image file"):
        read_images([mixed["a.png"], mixed["notes.txt"], mixed["dir"]], on_bad_file="fail")


def test_read_images_without_size_refuses_other_shapes(mixed):
    images, paths, refused = read_images([mixed["a.png"], mixed["b.jpg"], mixed["a.png"]])
    assert images.shape == (2, 20, 30, 3) and len(paths) == 2
    assert len(refused) == 1 and "differs from (20, 30, 3)" in refused[0][1]


def test_read_images_of_nothing(mixed):
    images, paths, refused = read_images([mixed["dir"]], size=(8, 9), color="grayscale")
    assert images.shape == (0, 8, 9, 1) and paths == [] and len(refused) == 1
    assert read_images([]).images.shape == (0, 0, 0, 3)


# ---- nnscratch predict ------------------------------------------------------------------------


@pytest.mark.timeout(120)
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_predict_classifies_the_good_files_and_names_the_bad(mixed, tmp_path):
    from nnscratch import Network, save
    from nnscratch.data.preprocessing import ImagePreprocessor

    pre = ImagePreprocessor(standardize=True).fit(np.stack([_quadrants(64, 64)] * 2))
    model = save(Network([64 * 64 * 3, 2, 1], seed=0), tmp_path / "model.npz", preprocessor=pre)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    argv = [mixed["a.png"], fifo, mixed["bomb.png"], mixed["b.jpg"], mixed["notes.txt"]]
    proc = subprocess.run(
        [sys.executable, "-m", "nnscratch", "predict", str(model), *map(str, argv)],
        capture_output=True,
        text=True,
        timeout=100,  # a FIFO that blocked would hang here
        env={**os.environ, "PYTHONPATH": str(Path(images_module.__file__).parents[2])},
    )
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    classified = [line.split(": ")[0] for line in proc.stdout.splitlines()]
    assert classified == [str(mixed["a.png"]), str(mixed["b.jpg"])]
    errors = proc.stderr.splitlines()
    bad = [(fifo, "FIFO"), (mixed["bomb.png"], "pixels"), (mixed["notes.txt"], "not an image")]
    assert len(errors) == len(bad), proc.stderr
    for line, (path, what) in zip(errors, bad, strict=True):
        assert f"cannot read image {path}: " in line and what in line, line
