#!/usr/bin/env python3
"""Writes the seed/regression corpus of the fuzz targets into tests/fuzz/corpus/<target>/.

Run from the repository root; the output is committed (small files only). Seeds are the real
formats (fixture headers, a recipe, IF configs) plus one regression input per finding of issue 23.
"""
import gzip, json, os, struct, zlib

ROOT = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(ROOT, "corpus")
FIX = os.path.join(ROOT, "..", "fixtures")


def put(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def st(header, data=b""):
    h = header.encode("utf-8") if isinstance(header, str) else header
    return struct.pack("<Q", len(h)) + h + data


# --- safetensors -------------------------------------------------------------------------------
for sub in ["if_stage1_unet_tiny", "if_stage2_unet_tiny", "t5_encoder_tiny"]:
    for fn in ["diffusion_pytorch_model.safetensors", "model.safetensors"]:
        p = os.path.join(FIX, sub, fn)
        if os.path.exists(p):
            raw = open(p, "rb").read()
            n = struct.unpack("<Q", raw[:8])[0]
            put("safetensors", sub + "-header", raw[: 8 + n + 64])
put("safetensors", "valid", st('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"__metadata__":{"k":"v"}}',
                               struct.pack("<2f", 1.0, 2.0)))
many = ",".join('"t%d":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}' % i for i in range(600))
put("safetensors", "many-entries", st("{" + many + "}"))  # a large header (issue 23: quadratic parse)
put("safetensors", "dup-escaped", st('{"A":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},'
                                     '"\\u0041":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', bytes(8)))
put("safetensors", "deep", st('{"a":' + "[" * 5000 + "]" * 5000 + "}"))
put("safetensors", "braces-in-strings", st('{"__metadata__":{"x":"{\\"a\\":1}","y":"}]"},'
                                           '"b\\"c":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', bytes(4)))

# --- IDX (parse_idx) and IDX files (plain or gzip) ------------------------------------------
def idx(type_code, dims, payload):
    return bytes([0, 0, type_code, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + payload

u8 = idx(0x08, [2, 3, 3], bytes(range(18)))
i16 = idx(0x0B, [3], struct.pack(">3h", -1, 2, 300))
put("idx", "u8", u8)
put("idx", "i16", i16)
put("idx", "f64", idx(0x0E, [1, 2], struct.pack(">2d", 0.5, -1.0)))
put("idx_file", "u8", u8)
put("idx_file", "u8.gz", gzip.compress(u8, mtime=0))
put("idx_file", "i16.gz", gzip.compress(i16, mtime=0))
# Regressions: a header promising 2048 x 2048 images in a tiny gzip, and one past the budget.
put("idx_file", "big-promise.gz", gzip.compress(idx(0x08, [1, 2048, 2048], bytes(64)), mtime=0))
put("idx_file", "over-budget", idx(0x08, [4096, 4096, 4096], b""))

# --- PNG text chunks -----------------------------------------------------------------------------
def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

ihdr = chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0))
idat = chunk(b"IDAT", zlib.compress(b"\x00\x00"))
iend = chunk(b"IEND", b"")
sig = b"\x89PNG\r\n\x1a\n"
recipe = {"format": "ds.recipe/1", "technique": "sdedit", "command": "sdedit",
          "argv": ["--input", "in.png", "--prompt", "7"], "seed": 0}
put("png_text", "text", sig + ihdr + chunk(b"tEXt", b"ds.recipe\x00" + json.dumps(recipe).encode()) + idat + iend)
put("png_text", "itxt", sig + ihdr + chunk(b"iTXt", "prompt\x00\x00\x00\x00\x00caf\u00e9".encode()) + idat + iend)
put("png_text", "itxt-z", sig + ihdr + chunk(b"iTXt", b"k\x00\x01\x00\x00\x00" + zlib.compress("na\u00efve".encode()))
    + idat + iend)
put("png_text", "ztxt", sig + ihdr + chunk(b"zTXt", b"k\x00\x00" + zlib.compress(b"v" * 100)) + idat + iend)
put("png_text", "ztxt-bomb", sig + ihdr + chunk(b"zTXt", b"k\x00\x00" + zlib.compress(b"\x00" * (1 << 20), 9))
    + idat + iend)
put("png_text", "bad-crc", sig + ihdr + chunk(b"tEXt", b"k\x00v")[:-1] + b"\x00" + iend)

# --- recipes -------------------------------------------------------------------------------------
put("recipe", "valid", json.dumps(recipe))
gui = dict(recipe)
del gui["command"], gui["argv"]
put("recipe", "gui", json.dumps(gui))
# Regressions of issue 23: output paths, replay of replay, train, deep nesting.
put("recipe", "gif-path", json.dumps(dict(recipe, argv=recipe["argv"] + ["--gif", "/tmp/victim.txt"])))
put("recipe", "gif-eq", json.dumps(dict(recipe, argv=recipe["argv"] + ["--gif=/tmp/victim.txt"])))
put("recipe", "replay", json.dumps(dict(recipe, command="replay", argv=["r.png"])))
put("recipe", "train", json.dumps(dict(recipe, command="train", argv=["--kind", "class-ddpm", "--out", "x"])))
put("recipe", "deep", '{"format":"ds.recipe/1","technique":"sdedit","x":' + "[" * 3000 + "]" * 3000 + "}")

# --- IF UNet config.json -------------------------------------------------------------------------
for sub in ["if_stage1_unet_tiny", "if_stage2_unet_tiny"]:
    put("if_config", sub, open(os.path.join(FIX, sub, "config.json"), "rb").read())
cfg = json.load(open(os.path.join(FIX, "if_stage1_unet_tiny", "config.json")))
put("if_config", "groups-zero", json.dumps(dict(cfg, norm_num_groups=0)))         # was a division by zero
put("if_config", "head-zero", json.dumps(dict(cfg, attention_head_dim=0)))
put("if_config", "head-empty-list", json.dumps(dict(cfg, attention_head_dim=[])))  # was an unchecked [0]
put("if_config", "huge-width", json.dumps(dict(cfg, block_out_channels=[1 << 30] * 2)))
print("corpus written to", OUT)
