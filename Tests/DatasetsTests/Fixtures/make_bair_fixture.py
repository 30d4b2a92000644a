#!/usr/bin/env python3
"""Regenerate bair_seed7_2x3.tfrecords and bair_seed7_2x3.expected.json (see README.md here).

Usage: python3 make_bair_fixture.py PATH/TO/make_bair_tfrecords.py
The expected values come from the generator's own Python API (generate_video), not from the file,
so the Swift test checks our reader against an independent reference.
"""
import hashlib, importlib.util, json, os, shutil, struct, sys, tempfile

SEED, VIDEOS, FRAMES = 7, 2, 3
HERE = os.path.dirname(os.path.abspath(__file__))
NAME = "bair_seed7_2x3"

spec = importlib.util.spec_from_file_location("make_bair_tfrecords", sys.argv[1])
gen = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gen)

with tempfile.TemporaryDirectory() as tmp:
    gen.main([tmp, "--train-files", "0", "--test-files", "1", "--videos-per-file", str(VIDEOS),
              "--frames", str(FRAMES), "--seed", str(SEED), "--no-wrapper-dir", "--self-check"])
    shutil.copyfile(os.path.join(tmp, "test", f"traj_0_to_{VIDEOS - 1}.tfrecords"),
                    os.path.join(HERE, NAME + ".tfrecords"))

# Record offsets and payload lengths straight from the framing (uint64 length at each record start).
records, offset = [], 0
with open(os.path.join(HERE, NAME + ".tfrecords"), "rb") as f:
    blob = f.read()
while offset < len(blob):
    (length,) = struct.unpack_from("<Q", blob, offset)
    records.append(dict(offset=offset, length=length))
    offset += 16 + length

videos = []
for index in range(VIDEOS):
    v = gen.generate_video(SEED, index, FRAMES)
    videos.append(dict(
        traj_index=index,
        record_offset=records[index]["offset"], record_length=records[index]["length"],
        sha256_image_aux1=hashlib.sha256(v["image_aux1"].tobytes()).hexdigest(),
        sha256_image_main=hashlib.sha256(v["image_main"].tobytes()).hexdigest(),
        sum_image_aux1=int(v["image_aux1"].astype("uint64").sum()),
        sum_image_main=int(v["image_main"].astype("uint64").sum()),
        action=[float(x) for x in v["action"].ravel()],
        endeffector_pos=[float(x) for x in v["endeffector_pos"].ravel()],
        features=4 * FRAMES))
with open(os.path.join(HERE, NAME + ".expected.json"), "w") as f:
    json.dump(dict(file=NAME + ".tfrecords", seed=SEED, frames=FRAMES, bytes=len(blob), videos=videos), f, indent=1)
print("wrote", NAME + ".tfrecords", len(blob), "bytes and", NAME + ".expected.json")
