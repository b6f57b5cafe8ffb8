#!/bin/sh
# Regenerates the carrier samples in files/ (mediagate inbound --sample KIND). Each is a
# small, valid file of its kind, made with common tools (Debian: imagemagick, libheif-examples,
# ffmpeg) or written below; tests/unit/test_carrier_samples.py checks each one's magic bytes.
# The committed files are what ships: running this again gives equivalent, not identical, bytes.
set -eu
cd "$(dirname "$0")/files"
CONVERT=/usr/bin/convert  # ImageMagick's (a stand-in may sit earlier on PATH)

# JPEG: a photo-like gradient, no metadata.
$CONVERT -size 64x48 gradient:orange-purple -strip -quality 85 photo.jpg
# PNG: a screenshot-like pattern, without time chunks.
$CONVERT -size 64x48 pattern:checkerboard -strip -define png:exclude-chunks=date,time screenshot.png
# Animated GIF: three frames, looping.
$CONVERT -delay 30 -size 32x32 xc:red xc:green xc:blue -loop 0 -strip animation.gif
# HEIC (what an iPhone sends): the JPEG re-encoded with x265.
heif-enc -q 40 photo.jpg -o photo.heic
# Opus voice note in Ogg (what WhatsApp and Android send): one second of a tone.
ffmpeg -loglevel error -y -f lavfi -i "sine=frequency=440:duration=1" -ac 1 -c:a libopus -b:a 12k \
  -map_metadata -1 -fflags +bitexact -flags:a +bitexact voice.ogg
# MP4 video: one second of the test card, H.264, moov first.
ffmpeg -loglevel error -y -f lavfi -i "testsrc=size=64x48:rate=10:duration=1" -c:v libx264 \
  -pix_fmt yuv420p -movflags +faststart -map_metadata -1 -fflags +bitexact -flags:v +bitexact video.mp4
# vCard 3.0 (a shared contact), CRLF line ends as RFC 2426 asks.
printf 'BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Ada Lovelace\r\nN:Lovelace;Ada;;;\r\nTEL;TYPE=CELL:+15005550006\r\nEMAIL:ada@example.com\r\nEND:VCARD\r\n' > contact.vcf
# PDF: one page with a line of text; the cross-reference offsets are computed.
python3 - <<'PY'
objects = [
    b"<< /Type /Catalog /Pages 2 0 R >>",
    b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
    b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 300 144] /Contents 4 0 R "
    b"/Resources << /Font << /F1 5 0 R >> >> >>",
    None,  # the content stream, below
    b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
]
text = b"BT /F1 18 Tf 24 64 Td (A sample document from mediagate) Tj ET"
objects[3] = b"<< /Length %d >>\nstream\n%s\nendstream" % (len(text), text)
out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
offsets = []
for number, body in enumerate(objects, start=1):
    offsets.append(len(out))
    out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
xref = len(out)
out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
open("document.pdf", "wb").write(bytes(out))
PY
# A zero-byte file: what a carrier sends when its transcoding failed (declared as a JPEG).
: > empty.jpg
ls -l
