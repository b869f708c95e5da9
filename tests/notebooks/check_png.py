#!/usr/bin/env python3
"""Checks that PNG files are valid and not blank, with the standard library alone.

Valid: the PNG signature, every chunk's CRC, an IHDR first and an IEND last, IDAT data
that inflates to exactly height rows of (1 filter byte + width * channels) bytes, and
filter types 0..4. Not blank: at least --min-colours distinct pixel values, at least
--min-ink of the pixels different from the most common (background) value, and at least
--min-colour-ink of the pixels clearly coloured (max - min of R, G, B above 48), so that
empty axes, which are all black, grey and white, count as blank: every figure this
project draws has coloured curves or areas.
Supports 8-bit greyscale, grey+alpha, RGB and RGBA, non-interlaced (what matplotlib's
Agg backend writes); anything else is reported as unsupported, which counts as a failure.

Usage: check_png.py [--min-colours N] [--min-ink F] [--min-colour-ink F] FILE.png [...]
Exit 0 when every file passes, 1 otherwise (one line per file on stdout).
"""

import argparse
import collections
import struct
import sys
import zlib

SIGNATURE = b"\x89PNG\r\n\x1a\n"
CHANNELS = {0: 1, 2: 3, 4: 2, 6: 4}  # colour type -> samples per pixel (8-bit only)


class PngError(Exception):
    """The file is not a PNG this checker accepts; the message says why and where."""


def read_chunks(data):
    """Splits PNG bytes into (type, payload) pairs, checking lengths and CRCs."""
    if not data.startswith(SIGNATURE):
        raise PngError("no PNG signature at offset 0")
    chunks = []
    pos = len(SIGNATURE)
    while pos < len(data):
        if pos + 8 > len(data):
            raise PngError(f"truncated chunk header at offset {pos}")
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        end = pos + 8 + length + 4
        if length > 2**31 - 1 or end > len(data):
            raise PngError(f"chunk {kind!r} at offset {pos} runs past the end of the file")
        payload = data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", data[end - 4:end])
        if zlib.crc32(kind + payload) & 0xFFFFFFFF != crc:
            raise PngError(f"bad CRC in chunk {kind!r} at offset {pos}")
        chunks.append((kind, payload))
        pos = end
        if kind == b"IEND":
            break
    if not chunks or chunks[0][0] != b"IHDR":
        raise PngError("first chunk is not IHDR")
    if chunks[-1][0] != b"IEND":
        raise PngError("no IEND chunk")
    if pos != len(data):
        raise PngError(f"{len(data) - pos} bytes after IEND")
    return chunks


def paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def unfilter(raw, width, height, bpp):
    """Reverses the per-row PNG filters; returns the list of rows as bytes."""
    stride = width * bpp
    if len(raw) != height * (stride + 1):
        raise PngError(f"image data inflates to {len(raw)} bytes, expected "
                       f"{height * (stride + 1)} for {width}x{height}")
    rows = []
    prev = bytes(stride)
    for y in range(height):
        start = y * (stride + 1)
        ftype = raw[start]
        line = bytearray(raw[start + 1:start + 1 + stride])
        if ftype == 0:
            pass
        elif ftype == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 0xFF
        elif ftype == 2:
            line = bytearray((x + p) & 0xFF for x, p in zip(line, prev))
        elif ftype == 3:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 0xFF
        elif ftype == 4:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                upleft = prev[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + paeth(left, prev[i], upleft)) & 0xFF
        else:
            raise PngError(f"unknown filter type {ftype} on row {y}")
        rows.append(bytes(line))
        prev = rows[-1]
    return rows


def decode(data):
    """Returns (width, height, bytes per pixel, rows) for an 8-bit PNG."""
    chunks = read_chunks(data)
    ihdr = chunks[0][1]
    if len(ihdr) != 13:
        raise PngError(f"IHDR is {len(ihdr)} bytes, expected 13")
    width, height, depth, ctype, comp, filt, interlace = struct.unpack(">IIBBBBB", ihdr)
    if width == 0 or height == 0:
        raise PngError(f"empty image {width}x{height}")
    if depth != 8 or ctype not in CHANNELS or comp != 0 or filt != 0 or interlace != 0:
        raise PngError(f"unsupported format: depth {depth}, colour type {ctype}, "
                       f"interlace {interlace}")
    idat = b"".join(payload for kind, payload in chunks if kind == b"IDAT")
    if not idat:
        raise PngError("no IDAT chunk")
    try:
        raw = zlib.decompress(idat)
    except zlib.error as e:
        raise PngError(f"image data does not inflate: {e}") from None
    bpp = CHANNELS[ctype]
    return width, height, bpp, unfilter(raw, width, height, bpp)


def pixel_stats(width, bpp, rows):
    """Counts of each distinct pixel value over the whole image."""
    counts = collections.Counter()
    for row in rows:
        counts.update(row[i:i + bpp] for i in range(0, width * bpp, bpp))
    return counts


def coloured_pixels(counts, bpp):
    """How many pixels are clearly coloured (not grey): RGB spread above 48.

    A transparent pixel (alpha 0) does not count; greyscale images have none.
    """
    if bpp < 3:
        return 0
    total = 0
    for pixel, n in counts.items():
        if bpp == 4 and pixel[3] == 0:
            continue
        if max(pixel[:3]) - min(pixel[:3]) > 48:
            total += n
    return total


def check(path, min_colours=16, min_ink=0.01, min_colour_ink=0.001):
    """Returns (passed, one line: what is wrong, or size, colours and ink fraction)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        return False, f"cannot read: {e.strerror}"
    try:
        width, height, bpp, rows = decode(data)
    except PngError as e:
        return False, f"invalid PNG: {e}"
    counts = pixel_stats(width, bpp, rows)
    ink = 1.0 - counts.most_common(1)[0][1] / (width * height)
    colour_ink = coloured_pixels(counts, bpp) / (width * height)
    summary = (f"{width}x{height}, {len(counts)} colours, {ink:.1%} non-background, "
               f"{colour_ink:.2%} coloured")
    if len(counts) < min_colours:
        return False, f"blank: only {len(counts)} distinct colours ({summary})"
    if ink < min_ink:
        return False, f"blank: too few pixels differ from the background ({summary})"
    if colour_ink < min_colour_ink:
        return False, f"blank: no coloured marks, empty axes? ({summary})"
    return True, summary


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--min-colours", type=int, default=16)
    parser.add_argument("--min-ink", type=float, default=0.01)
    parser.add_argument("--min-colour-ink", type=float, default=0.001)
    parser.add_argument("files", nargs="+")
    args = parser.parse_args(argv)
    failed = 0
    for path in args.files:
        passed, message = check(path, args.min_colours, args.min_ink, args.min_colour_ink)
        failed += not passed
        print(f"{'ok  ' if passed else 'FAIL'} {path}: {message}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
